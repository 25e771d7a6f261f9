#pragma once
// The capture writer: one thread that owns the database's write connection. The relay
// hands it captures through a bounded queue and never waits: when the queue is full or
// the database fails (full disk, I/O error, locked), the capture is dropped and counted,
// a warning is logged at most once per interval, and the writer keeps trying, so it
// recovers by itself once the cause is gone. Retention runs on the same thread in small
// batches between inserts.
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
  std::uint64_t max_database_bytes = 0;      // --store-max-size: a hard cap (max_page_count); 0: none
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
  // Opens (creating) the database and brings its schema up to date; throws store::error
  // with a message that says what to do (unwritable directory, newer schema, corrupt file).
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
