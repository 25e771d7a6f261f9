#pragma once
// One row of the `replays` table: a `hindsight replay` of a capture, or a live debug
// session the proxy ran on the request itself (then `trigger` names the rule). Apart
// from store/replays.hpp so that store/capture.hpp can carry one without SQLite.
#include <cstdint>
#include <optional>
#include <string>

namespace hindsight::store {

struct replay_record {
  std::int64_t id = 0;          // set by insert_replay
  std::int64_t capture_id = 0;
  std::int64_t time_us = 0;     // when the replay started, µs since the epoch
  std::string mode;             // run, pdb, break, post_mortem; upstream (replay --upstream)
  std::string app_spec;         // module:attribute as the worker loaded it; for upstream, the address
  std::optional<int> status;    // the app's status; none when it gave none
  std::string exception_json;   // the traceback model; "" when nothing was raised
  std::string result_json;      // the worker's response header; "" when there was none
  std::string body;             // the response body as the worker returned it (bounded)
  double duration_ms = 0;
  std::string outcome;          // completed, timeout, crashed, error
  std::string error;            // why it did not complete; "" when it did
  // What the debug session's terminal showed: the program's output and the echo of what
  // was typed, as bytes; "" when there was no session at a terminal (stored as NULL).
  std::string transcript;
  // The rule that sent a live request to the debugger; "" for `hindsight replay` (NULL).
  std::string trigger;
};

}  // namespace hindsight::store
