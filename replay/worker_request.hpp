#pragma once
// The `request` message of the worker protocol (docs/worker-protocol.md), rebuilt from a
// stored capture so that the app sees what it saw behind the proxy: the request head
// the proxy sent upstream (HTTP/1.1, origin-form, hop-by-hop fields dropped, the TCP
// client appended to X-Forwarded-For, the proxy's framing), the stored body, the
// router's scheme, and the peer and server addresses of the app's socket.
#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/capture.hpp"

namespace hindsight::replay {

struct breakpoint {
  std::string file;       // relative to the app's chdir, or absolute
  int line = 0;
  std::string condition;  // "" for none
};

// FILE:LINE or FILE:LINE:CONDITION (the condition may itself hold colons). Throws
// std::invalid_argument naming the input and the form.
breakpoint parse_breakpoint(std::string_view text);

struct request_settings {
  std::string mode = "run";         // run, pdb, post_mortem (the protocol's modes)
  std::vector<breakpoint> breaks;
  bool rollback = true;
  double timeout_s = 60;
  std::uint64_t body_limit = 1 << 20;
  // Where the app listened behind the proxy ("unix:/p", "host:port"); "" unknown,
  // taken as the default inner socket (a unix socket).
  std::string upstream;
};

struct worker_request {
  boost::json::object header;          // the request frame's JSON header
  std::string body;                    // its body: the stored request body
  std::vector<std::string> warnings;   // what makes this replay differ from the original
};

worker_request rebuild_request(const store::stored_capture& c, const request_settings& s);

}  // namespace hindsight::replay
