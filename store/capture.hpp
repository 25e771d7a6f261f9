#pragma once
// One exchange as the proxy saw it, on its way to the store. The proxy fills it on the
// request's thread; the writer thread redacts, groups and stores it.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/replay_record.hpp"

namespace hindsight::store {

struct capture {
  std::int64_t time_us = 0;   // wall clock when the request head arrived, µs since the epoch
  std::string client;         // the peer as the proxy saw it: an IP, or "unix"
  std::string scheme;         // as the router saw it: X-Forwarded-Proto, else "http"
  std::string host;           // the Host field ("" when absent, HTTP/1.0)
  std::string method;
  std::string target;         // the raw request-target, exactly as received
  int version = 11;           // 10 or 11
  // The header section exactly as received: "Name: value\r\n" lines, original order,
  // case and duplicates, without the request line and the final empty line.
  std::string request_headers;
  std::string request_body;   // the first bytes of the body, chunked coding removed
  std::uint64_t request_body_size = 0;  // body bytes the client sent in all
  bool request_body_truncated = false;  // request_body holds fewer than request_body_size
  bool request_complete = true;         // the client sent the whole body

  int status = 0;             // what the client got: the app's status, or the proxy's own
  std::string reason;
  std::string response_headers;  // as request_headers, of the app's response ("" if none)
  std::string response_body;
  std::uint64_t response_body_size = 0;
  bool response_body_truncated = false;

  double duration_ms = 0;     // from the request head's first byte to the end of the response
  double upstream_ms = -1;    // from connecting to the app to the end; -1: never reached it
  // Why the app gave no (complete) answer: "" when it did, else one of
  // unreachable, timeout, reset, closed, malformed, crashed.
  std::string upstream_error_kind;
  std::string upstream_error;  // the proxy's own sentence about it
  bool app_restarted = false;  // the supervised app was (re)started while this exchange ran
  std::string captured_because;  // "status", "error", "rule", "slow" or "sample"

  // The live debug session a rule ran this request in, stored in `replays` with the
  // capture, in the same transaction (its capture_id is set then): a dropped capture
  // takes its session with it. Its transcript is stored as the terminal showed it.
  std::optional<replay_record> live_session;
};

// A capture as stored: what the writer added to it.
struct stored_capture : capture {
  std::int64_t id = 0;
  std::int64_t group_id = 0;
  std::vector<std::string> redacted;  // what was scrubbed, e.g. "query:password", "json:card.number"
  bool replayable = true;             // the request is stored whole and can be sent again exactly
};

}  // namespace hindsight::store
