#pragma once
// What a replay shows: the app's response and its traceback, as text for a terminal and
// as the `replay --json` object (docs/store-interface.md). Pure functions from the
// worker's messages to what the user reads, tested without a worker.
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hindsight::store {
struct replay_record;
}

namespace hindsight::replay {

// How a replay ended, whatever the app answered.
enum class outcome { completed, timeout, crashed, error };
std::string_view to_string(outcome o);

struct replay_result {
  std::int64_t capture_id = 0;
  std::int64_t replay_id = 0;      // 0 until stored
  outcome how = outcome::error;
  std::string error;               // for anything but completed: what happened, for the user
  boost::json::object response;    // the worker's response header (completed), else empty
  std::string body;                // the response frame's body
  boost::json::value exception;    // the traceback model, or null (also from an error message)
  double duration_ms = 0;          // wall clock of the request, as the parent measured it
  std::string stderr_tail;         // the worker's last stderr lines, for crashes
  // "worker", or "upstream" when the request went to the running app (replay --upstream)
  std::string target = "worker";
  std::string upstream;            // for upstream: the app's address
  // The rule that sent the request to a live debug session (stored with its capture by
  // the proxy); "" for `hindsight replay`.
  std::string trigger;
};

// A stored replay (`replays` table) as the result it was, to show it again.
replay_result result_from_record(const store::replay_record& row);

// "500 Internal Server Error" → {500, "Internal Server Error"}; nullopt when it is not
// a status line (the app gave none).
struct status_line {
  int code = 0;
  std::string reason;
};
std::optional<status_line> parse_status(std::string_view text);

// The traceback model printed as Python prints a traceback, the causes and contexts
// first with their connecting sentences, and under each frame of the app's own code its
// locals (`name = repr`). Control characters are escaped.
std::string traceback_text(const boost::json::object& model);

// The `--json` object: capture_id, replay_id, target, outcome, error, status, reason,
// headers, body_base64, body_truncated, body_size, rolled_back, exception, duration_ms
// (and upstream, the address, for target "upstream").
boost::json::object result_to_json(const replay_result& r);

// For a terminal: the status line, headers, a bounded preview of the body (text as is,
// binary as a hex dump), the traceback, and what was rolled back (nothing is, when the
// running app answered: its side effects happened). A live session is titled as one,
// with its rule.
std::string result_text(const replay_result& r, std::size_t body_limit);

}  // namespace hindsight::replay
