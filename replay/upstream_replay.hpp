#pragma once
// `hindsight replay ID --upstream [ADDR]`: the captured request sent to the running app
// itself rather than to a debug worker — the bytes the proxy sent it, over a fresh
// connection, one response read back. Every ending is a replay_result, never an
// exception, as with run_session.
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "proxy/address.hpp"
#include "replay/result_view.hpp"
#include "store/capture.hpp"

namespace hindsight::replay {

struct upstream_request {
  std::string bytes;                  // head and body, ready for the socket
  bool head = false;                  // a HEAD request: the response has no body
  std::vector<std::string> warnings;  // what makes it differ from the original
};

// The request as the proxy forwarded it (proxy::write_upstream_request_head: hop-by-hop
// fields dropped, the client appended to X-Forwarded-For, one Content-Length of the
// stored body), credentials included: the app needs them.
upstream_request upstream_request_for(const store::stored_capture& c);

struct upstream_settings {
  proxy::address address;
  std::chrono::milliseconds timeout{60'000};  // for the whole exchange, connect included
  std::size_t body_limit = 1 << 20;           // body bytes kept; the rest is counted
};

// `how` is completed when a whole response arrived, timeout when the deadline passed,
// error otherwise (refused, reset, malformed), with a sentence naming the address.
// `response` then holds what a worker's response header holds (status "500 Internal
// Server Error", headers as [name, value] decoded as latin-1, body_size, body_truncated).
replay_result replay_upstream(const upstream_settings& s, const upstream_request& request);

}  // namespace hindsight::replay
