#pragma once
// The capture writer: one thread that owns the database's write connection. The relay
// hands it captures through a bounded queue and never waits: when the queue is full or
// the database fails (full disk, I/O error, locked), the capture is dropped and counted,
// a warning is logged at most once per interval, and the writer keeps trying, so it
// recovers by itself once the cause is gone. Retention runs on the same thread in small
// batches between inserts.
//
// Memory: the queue holds at most queue_capacity captures and at most queue_bytes of
// their headers, bodies and live debug sessions (a capture that would go beyond either
// is dropped as queue_full; one capture alone is always taken), and the batch being
// written holds at most 256 captures or about 8 MiB more.
//
// Disk: before each batch the writer checks the free space of the database's file
// system and drops the batch as database_full when less than min_free_bytes would be
// left, so hindsight never fills a disk itself and its deletions, checkpoints and
// `hindsight prune` (which in WAL mode need room to write) always have headroom.
//
// The database file (and its -wal and -shm, which SQLite gives the same mode) is
// owner-only (0600): captures hold Authorization and Cookie headers.
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "store/capture.hpp"
#include "store/redaction.hpp"

namespace hindsight::store {

struct retention {
  std::uint64_t rows = 100'000;              // --retain-rows (0: no limit)
  std::uint64_t bytes = 1ull << 30;          // --retain-bytes (0: no limit)
  std::chrono::seconds age = std::chrono::hours(24 * 14);  // --retain-days (0: no limit)
};

struct writer_options {
  std::filesystem::path database;            // <data>/captures.db
  retention keep{};
  std::size_t queue_capacity = 1024;         // --capture-queue
  // The queue's byte budget: the headers and bodies of the captures waiting. 64 MiB holds
  // 60 captures at the default body limits (1 MiB request, 64 KiB response) and
  // thousands of typical ones; a burst beyond it is dropped rather than held in memory.
  std::uint64_t queue_bytes = 64ull << 20;
  // Free space the file system keeps beyond each batch, else the batch is dropped as
  // database_full (0: no check).
  std::uint64_t min_free_bytes = 8ull << 20;
  // --store-max-size: a hard cap (max_page_count); 0: none. When set, the writer keeps
  // retain-bytes at most 80% of it (so retention, not the cap, bounds the store), and an
  // insert that meets the cap anyway deletes the oldest captures to make room: the
  // newest failures matter most.
  std::uint64_t max_database_bytes = 0;
  redaction_rules redaction = redaction_rules::defaults();
  // How long a batch waits for another process's write lock (a `hindsight prune`)
  // before it is dropped as database_busy; the queue absorbs captures meanwhile.
  std::chrono::milliseconds busy_timeout{1000};
};

// Why a capture was not stored.
enum class drop_reason { queue_full, database_full, database_error, database_busy, count_ };
std::string_view to_string(drop_reason r);  // "queue_full", "database_full", …

struct writer_stats {
  std::uint64_t stored = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(drop_reason::count_)> dropped{};
  std::uint64_t pruned = 0;       // rows deleted by retention since start
  std::string last_error;         // the database's last failure, "" once it recovered
  std::size_t queue_length = 0;   // captures waiting for the writer now
};

class capture_writer {
 public:
  // Opens (creating, mode 0600) the database and brings its schema up to date, and records
  // the retention in force in it (counters retain_rows, retain_bytes, retain_seconds) for
  // a `hindsight prune` run while no proxy is. Throws store::error with a message that
  // says what to do (unwritable directory, newer schema, corrupt file).
  explicit capture_writer(writer_options options);
  // Stores what is queued (for at most a second), then stops the thread.
  ~capture_writer();
  capture_writer(const capture_writer&) = delete;
  capture_writer& operator=(const capture_writer&) = delete;

  // Any thread; never blocks on the database. false: dropped (and counted).
  bool submit(capture&& c) noexcept;
  writer_stats stats() const;
  const writer_options& options() const { return options_; }

 private:
  struct impl;
  writer_options options_;
  std::unique_ptr<impl> impl_;
};

}  // namespace hindsight::store
