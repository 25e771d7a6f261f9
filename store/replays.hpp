#pragma once
// Replays of captures (`hindsight replay`): one row per attempt, whatever its outcome,
// so a replay and its traceback can be shown again. Schema: migration 2 in schema.cpp.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/sqlite.hpp"

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
};

// Inserts the row in its own statement (autocommit) and returns its id. The database
// must have been readied by prepare_for_writing. Throws store::error.
std::int64_t insert_replay(sqlite::database& db, const replay_record& r);

std::optional<replay_record> get_replay(sqlite::database& db, std::int64_t id);

// Newest first; capture_id 0 lists the replays of every capture; limit 0: all.
std::vector<replay_record> list_replays(sqlite::database& db, std::int64_t capture_id, std::size_t limit);

}  // namespace hindsight::store
