#pragma once
// The tables of a captures database, the migrations that create them (versioned by
// PRAGMA user_version), and the deletion of old captures that keeps them consistent.
#include <cstddef>
#include <cstdint>

#include "store/sqlite.hpp"
#include "store/writer.hpp"

namespace hindsight::store {

// The schema this build reads and writes: the number of migrations it knows.
int known_schema_version();

// The database's schema version (0: no tables yet). Throws store::error, saying to
// upgrade hindsight or use another --data directory, when it is newer than this build's.
int schema_version(sqlite::database& db);

// Readies a connection that writes: on a new file incremental auto-vacuum (which can
// only be chosen before the first table), WAL mode, synchronous=NORMAL, secure_delete=FAST
// (deleting must not need room for every freed page), then every
// migration the file lacks, each in its own transaction. Safe when two processes do it
// at once. Throws store::error.
void prepare_for_writing(sqlite::database& db);

// Deletes, in one transaction, up to `max_rows` of the oldest captures beyond `keep`
// (oldest first by id; by time for the age limit), and the groups left without a
// capture. Returns the rows deleted: 0 once nothing is beyond the limits. When `beyond`
// is given, it tells whether captures are still beyond the limits after this step (its
// budget of rows and bytes ran out first), so the caller can go on without waiting.
std::uint64_t delete_oldest(sqlite::database& db, const retention& keep, std::int64_t now_us, std::size_t max_rows,
                            bool* beyond = nullptr);

// Deletes, in one transaction, up to `max_rows` of the oldest captures whatever the
// limits, and the groups left without a capture: one step of emptying the store.
std::uint64_t delete_first_captures(sqlite::database& db, std::size_t max_rows);

// Gives up to `max_pages` free pages back to the file system (incremental vacuum, its
// own transaction: keep it short, the writer waits); returns how many are still free.
std::int64_t release_free_pages(sqlite::database& db, std::int64_t max_pages);

}  // namespace hindsight::store
