#pragma once
// Where a request goes when a live debug rule fires for it (issue 5, "Live debug
// sessions"): the proxy reads the whole request, hands it to the dispatcher (debug/,
// which runs it in a hindsight-worker with pdb on a pseudo-terminal for `hindsight
// attach`), and writes whatever answer comes back. The proxy library only knows this
// interface: the debugger's side links the worker protocol and the replay code.
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "proxy/rules.hpp"
#include "store/capture.hpp"
#include "store/replays.hpp"

namespace hindsight::proxy {

// A request whose debug rule fired, as the app would have got it: the debug token
// removed, the body whole (chunked coding removed).
struct debug_job {
  std::string rule;        // the rule's name
  rule_action action;      // traceback, pdb, break, post_mortem
  std::string action_arg;  // break: FILE:LINE[:COND]
  store::capture request;  // method, target, version, request_headers, request_body, client, scheme
};

// What the client gets. The session adds the framing (Content-Length, Connection) and
// its own fields (the token's cookie); `headers` hold no framing field.
struct debug_answer {
  int status = 502;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // The proxy answered itself (busy, worker crashed or hung): why, for the log line and
  // the capture. "" when the app's own response is passed on.
  std::string error;
  std::string error_kind;  // for the capture: "crashed", "timeout", "unreachable"; "" when the app answered
  // The session record kept with the exchange's capture (the transcript, the traceback).
  std::optional<store::replay_record> session;
};

class debug_dispatcher {
 public:
  virtual ~debug_dispatcher() = default;
  // Takes the request; `done` is called exactly once, from any thread, maybe much later
  // (a developer at a prompt). Must not block.
  virtual void submit(debug_job job, std::function<void(debug_answer)> done) = 0;
};

}  // namespace hindsight::proxy
