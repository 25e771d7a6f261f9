#pragma once
// The read side of the store, for the CLI (and later the web UI): it opens the database
// the proxy writes, concurrently with it (WAL readers never block the writer).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/capture.hpp"
#include "store/writer.hpp"

namespace hindsight::store {

struct list_filter {
  std::vector<std::pair<int, int>> statuses;  // inclusive ranges; empty: any
  std::string method;                         // "" any; compared case-insensitively
  std::string path_glob;                      // "" any; SQLite GLOB on the path (target without query)
  std::optional<std::int64_t> since_us;       // captures at or after this time
  std::optional<std::int64_t> group_id;
  std::size_t limit = 50;
};

struct capture_summary {
  std::int64_t id = 0, time_us = 0;
  int status = 0;
  std::string method, target, path;
  double duration_ms = 0;
  std::int64_t group_id = 0;
  bool replayable = true;
  std::string upstream_error_kind;
};

struct group_summary {
  std::int64_t id = 0;
  std::string fingerprint, method, route;
  int status = 0;
  std::string upstream_error_kind;
  std::uint64_t count = 0;                    // every capture ever put in the group
  std::int64_t first_seen_us = 0, last_seen_us = 0;
};

struct store_summary {
  int schema_version = 0;
  std::uint64_t rows = 0, bytes = 0, groups = 0;   // bytes: the captures' stored size
  std::uint64_t file_bytes = 0;                    // the database file with its WAL
  std::optional<std::int64_t> oldest_us, newest_us;
  // Counted by the writers that wrote this file, over its whole life.
  std::uint64_t stored_total = 0;
  std::vector<std::pair<std::string, std::uint64_t>> dropped_total;  // by reason
};

class reader {
 public:
  // Throws store::error: the database is missing (message names the data directory and
  // says no proxy has captured there yet), unreadable, or written by a newer hindsight.
  // `writable` for prune.
  explicit reader(const std::filesystem::path& database, bool writable = false);
  ~reader();
  reader(reader&&) noexcept;

  std::vector<capture_summary> list(const list_filter& f);
  std::vector<group_summary> groups(std::size_t limit);
  std::optional<stored_capture> get(std::int64_t id);
  store_summary summary();
  // The retention the last proxy on this file started with (capture_writer records it);
  // nullopt when none did.
  std::optional<retention> recorded_retention();
  // Applies retention now; returns the rows deleted. prune_all empties the store. On a
  // full file system (SQLITE_FULL) the error says what to do: free space there, or stop
  // the proxy and delete the database files.
  std::uint64_t prune(const retention& keep);
  std::uint64_t prune_all();

 private:
  std::uint64_t prune_all_steps();
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace hindsight::store
