#pragma once
// Replays of captures (`hindsight replay`): one row per attempt, whatever its outcome,
// so a replay and its traceback can be shown again; and the live debug sessions the
// proxy stores with their capture (store/writer.cpp). Schema: migrations 2 and 4 in
// schema.cpp.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "store/replay_record.hpp"
#include "store/sqlite.hpp"

namespace hindsight::store {

// Inserts the row in one statement (in the caller's transaction if one is open, else on
// its own) and returns its id. The database must have been readied by
// prepare_for_writing. Throws store::error.
std::int64_t insert_replay(sqlite::database& db, const replay_record& r);

// Both read files of schema 2 and 3 too (`show` opens them read-only, unmigrated): their
// rows have no transcript nor trigger.
std::optional<replay_record> get_replay(sqlite::database& db, std::int64_t id);

// Newest first; capture_id 0 lists the replays of every capture; limit 0: all.
std::vector<replay_record> list_replays(sqlite::database& db, std::int64_t capture_id, std::size_t limit);

}  // namespace hindsight::store
