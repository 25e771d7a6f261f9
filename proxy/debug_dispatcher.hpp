#pragma once
// Where a request goes when a live debug rule fires for it (issue 5, "Live debug
// sessions"): to a hindsight-worker driven by the proxy, with pdb's I/O relayed to
// `hindsight attach`. That part is not built yet; this is the seam it plugs into.
//
// Today server_hooks::debug is empty, and a request whose debug rule fires (with a
// valid token) is forwarded to the app like any other, its token removed, with a
// warning naming the rule: nothing pretends a debugger ran.
#include <string_view>

#include "proxy/http_head.hpp"
#include "proxy/rules.hpp"

namespace hindsight::proxy {

// What the session knows when a debug rule fires, before the app has seen anything.
struct debug_request {
  const compiled_rule& rule;    // its action: traceback, pdb, break (action_arg), post-mortem
  const request_head& head;     // the debug token already removed
  std::string_view client;      // as rules see it (client_address)
};

enum class debug_disposition {
  forward,  // not taken (no worker available, the feature is off): the app answers as usual
  taken,    // the dispatcher answers the client; the session waits for it
};

class debug_dispatcher {
 public:
  virtual ~debug_dispatcher() = default;
  // Called on the session's thread; must not block. An implementation that takes the
  // request will need the session's sockets and body: widen this interface then.
  virtual debug_disposition dispatch(const debug_request& request) = 0;
};

}  // namespace hindsight::proxy
