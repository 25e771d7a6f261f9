#include "store/writer.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <cstdio>

#include "store/queries.hpp"
#include "store/replays.hpp"
#include "store/schema.hpp"
#include "store/sqlite.hpp"
#include "store_test_support.hpp"

using namespace hindsight::store;
using namespace hindsight::store::testing;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

std::uint64_t dropped(const writer_stats& s, drop_reason r) { return s.dropped[static_cast<std::size_t>(r)]; }

std::uint64_t dropped_total(const store_summary& s, std::string_view reason) {
  for (const auto& [name, n] : s.dropped_total) {
    if (name == reason) return n;
  }
  return 0;
}

}  // namespace

TEST(Writer, stores_every_field_of_a_capture_exactly) {
  temp_dir dir;
  capture c = failing_request("POST", "/upload/\xc3\xa9t\xc3\xa9?password=hunter2&x=1", 502);
  c.client = "203.0.113.9";
  c.version = 10;
  c.request_headers = "Host: shop.example\r\nX-Dup: a\r\nx-dup: b\r\nContent-Type: application/octet-stream\r\n";
  c.request_body = "\0\x01\xff binary\0"s;
  c.request_body_size = 5000;
  c.request_body_truncated = true;
  c.reason = "Bad Gateway";
  c.response_headers = "Content-Type: text/plain\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n";
  c.response_body = "upstream\0died"s;
  c.response_body_size = 13;
  c.response_body_truncated = false;
  c.duration_ms = 30001.25;
  c.upstream_ms = 30000.5;
  c.upstream_error_kind = "timeout";
  c.upstream_error = "the app did not answer within 30 s";
  c.app_restarted = true;
  c.captured_because = "error";
  {
    capture_writer w({.database = dir.database()});
    EXPECT_TRUE(w.submit(capture(c)));
    ASSERT_TRUE(eventually([&] { return w.stats().stored == 1; }));
  }

  reader r(dir.database());
  auto rows = r.list({});
  ASSERT_EQ(rows.size(), 1u);
  auto got = r.get(rows[0].id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->time_us, c.time_us);
  EXPECT_EQ(got->client, c.client);
  EXPECT_EQ(got->scheme, c.scheme);
  EXPECT_EQ(got->host, c.host);
  EXPECT_EQ(got->method, c.method);
  EXPECT_EQ(got->target, "/upload/\xc3\xa9t\xc3\xa9?password=%5Bredacted%5D&x=1");
  EXPECT_EQ(got->redacted, std::vector<std::string>{"query:password"});
  EXPECT_EQ(got->version, 10);
  EXPECT_EQ(got->request_headers, c.request_headers);
  EXPECT_EQ(got->request_body, c.request_body);
  EXPECT_EQ(got->request_body_size, 5000u);
  EXPECT_TRUE(got->request_body_truncated);
  EXPECT_TRUE(got->request_complete);
  EXPECT_FALSE(got->replayable);  // the body was cut
  EXPECT_EQ(got->status, 502);
  EXPECT_EQ(got->reason, c.reason);
  EXPECT_EQ(got->response_headers, c.response_headers);
  EXPECT_EQ(got->response_body, c.response_body);
  EXPECT_EQ(got->response_body_size, 13u);
  EXPECT_FALSE(got->response_body_truncated);
  EXPECT_EQ(got->duration_ms, c.duration_ms);
  EXPECT_EQ(got->upstream_ms, c.upstream_ms);
  EXPECT_EQ(got->upstream_error_kind, "timeout");
  EXPECT_EQ(got->upstream_error, c.upstream_error);
  EXPECT_TRUE(got->app_restarted);
  EXPECT_EQ(got->captured_because, "error");
  EXPECT_EQ(got->group_id, rows[0].group_id);

  EXPECT_EQ(rows[0].path, "/upload/\xc3\xa9t\xc3\xa9");
  EXPECT_FALSE(rows[0].replayable);
  EXPECT_EQ(rows[0].upstream_error_kind, "timeout");
  EXPECT_FALSE(r.get(rows[0].id + 1));
}

TEST(Writer, a_whole_request_is_replayable_and_a_cut_one_is_not) {
  temp_dir dir;
  capture whole = failing_request("GET", "/a", 500);
  capture abandoned = failing_request("POST", "/b", 500);
  abandoned.request_complete = false;  // the client left mid-body
  {
    capture_writer w({.database = dir.database()});
    w.submit(std::move(whole));
    w.submit(std::move(abandoned));
    ASSERT_TRUE(eventually([&] { return w.stats().stored == 2; }));
  }
  auto rows = reader(dir.database()).list({});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].path, "/b");
  EXPECT_FALSE(rows[0].replayable);
  EXPECT_TRUE(rows[1].replayable);
}

TEST(Writer, groups_by_method_route_and_status_or_error) {
  temp_dir dir;
  auto t0 = now_us();
  {
    capture_writer w({.database = dir.database()});
    w.submit(failing_request("GET", "/orders/1/items", 500, t0 + 100));
    w.submit(failing_request("GET", "/orders/2/items?page=3", 500, t0 + 300));
    w.submit(failing_request("POST", "/orders/1/items", 500, t0 + 200));
    auto timeout = failing_request("GET", "/orders/3/items", 502, t0 + 400);
    timeout.upstream_error_kind = "timeout";
    w.submit(std::move(timeout));
    ASSERT_TRUE(eventually([&] { return w.stats().stored == 4; }));
  }
  reader r(dir.database());
  auto groups = r.groups(10);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(groups[0].fingerprint, "GET /orders/{int}/items 502 timeout");  // newest last_seen first
  EXPECT_EQ(groups[0].upstream_error_kind, "timeout");
  EXPECT_EQ(groups[1].fingerprint, "GET /orders/{int}/items 500");
  EXPECT_EQ(groups[1].count, 2u);
  EXPECT_EQ(groups[1].first_seen_us, t0 + 100);
  EXPECT_EQ(groups[1].last_seen_us, t0 + 300);
  EXPECT_EQ(groups[1].route, "/orders/{int}/items");
  EXPECT_EQ(groups[1].method, "GET");
  EXPECT_EQ(groups[1].status, 500);
  EXPECT_EQ(groups[2].fingerprint, "POST /orders/{int}/items 500");

  list_filter in_group;
  in_group.group_id = groups[1].id;
  EXPECT_EQ(r.list(in_group).size(), 2u);
}

TEST(Writer, counts_captures_dropped_because_the_queue_is_full) {
  temp_dir dir;
  capture_writer w({.database = dir.database(), .queue_capacity = 1, .busy_timeout = 10s});
  int accepted = 0;
  {
    // Another connection holds the write lock: the writer thread blocks on the first
    // capture it takes, so it holds at most one and the queue one more.
    sqlite::database other(dir.database(), sqlite::open_mode::read_write);
    sqlite::transaction lock(other);
    for (int i = 0; i < 3; ++i) accepted += w.submit(failing_request("GET", "/x", 500));
    EXPECT_LE(accepted, 2);
    EXPECT_EQ(dropped(w.stats(), drop_reason::queue_full), 3u - accepted);
  }
  ASSERT_TRUE(eventually([&] { return w.stats().stored == static_cast<std::uint64_t>(accepted); }));
  auto summary = reader(dir.database()).summary();
  EXPECT_EQ(summary.stored_total, static_cast<std::uint64_t>(accepted));
  EXPECT_EQ(dropped_total(summary, "queue_full"), 3u - accepted);  // recorded in the file with the next batch
}

TEST(Writer, a_lock_held_too_long_drops_the_batch_as_busy_then_recovers) {
  temp_dir dir;
  capture_writer w({.database = dir.database(), .busy_timeout = 20ms});
  {
    sqlite::database other(dir.database(), sqlite::open_mode::read_write);
    sqlite::transaction lock(other);
    w.submit(failing_request("GET", "/x", 500));
    ASSERT_TRUE(eventually([&] { return dropped(w.stats(), drop_reason::database_busy) == 1; }));
    EXPECT_NE(w.stats().last_error.find("database is locked"), std::string::npos) << w.stats().last_error;
  }
  w.submit(failing_request("GET", "/y", 500));
  ASSERT_TRUE(eventually([&] { return w.stats().stored == 1; }));
  EXPECT_EQ(w.stats().last_error, "");
  EXPECT_EQ(dropped_total(reader(dir.database()).summary(), "database_busy"), 1u);
}

TEST(Writer, a_full_database_drops_the_batch_then_makes_room_for_the_newest) {
  temp_dir dir;
  // No byte retention at all: only the cap stops the store growing.
  capture_writer w({.database = dir.database(), .keep = {.rows = 0, .bytes = 0, .age = 0s},
                    .max_database_bytes = 256 << 10});
  EXPECT_EQ(w.options().keep.bytes, (256u << 10) / 100 * 80);  // retention kept under the cap
  auto big = failing_request("GET", "/report", 500);
  big.response_body = std::string(100'000, 'x');
  // One at a time, faster than the once-a-second retention.
  for (std::uint64_t i = 1; i <= 10 && dropped(w.stats(), drop_reason::database_full) == 0; ++i) {
    w.submit(capture(big));
    ASSERT_TRUE(eventually([&] {
      auto s = w.stats();
      return s.stored + dropped(s, drop_reason::database_full) == i;
    }));
  }
  auto full = w.stats();
  if (dropped(full, drop_reason::database_full) == 1) {
    EXPECT_NE(full.last_error.find("full"), std::string::npos) << full.last_error;
    // Without a prune: the oldest go to make room.
    ASSERT_TRUE(eventually([&] { return w.stats().pruned > 0; }));
  }
  EXPECT_LE(dropped(full, drop_reason::database_full), 1u);
  auto last = big;
  last.target = "/newest";
  w.submit(std::move(last));
  ASSERT_TRUE(eventually([&] { return w.stats().stored == full.stored + 1; }));
  EXPECT_EQ(w.stats().last_error, "");
  auto rows = reader(dir.database()).list({});
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows[0].path, "/newest");
}

TEST(Writer, a_store_max_size_below_retain_bytes_keeps_storing_the_newest) {
  temp_dir dir;
  // The default --retain-bytes (1 GiB) far above the cap: before, the store filled up to
  // the cap and every later capture was dropped for good.
  capture_writer w({.database = dir.database(), .max_database_bytes = 1 << 20});
  auto big = failing_request("GET", "/report", 500);
  big.response_body = std::string(100'000, 'x');
  for (std::uint64_t i = 1; i <= 40; ++i) {
    auto c = big;
    c.target = "/report/" + std::to_string(i);
    w.submit(std::move(c));
    ASSERT_TRUE(eventually([&] {
      auto s = w.stats();
      return s.stored + dropped(s, drop_reason::database_full) == i;
    }));
  }
  auto st = w.stats();
  EXPECT_GE(st.stored, 30u) << "database_full drops: " << dropped(st, drop_reason::database_full);
  // Retention runs right after the batch that went over, on the writer's thread.
  EXPECT_TRUE(eventually([&] { return reader(dir.database()).summary().bytes <= (1u << 20) / 100 * 80; }))
      << reader(dir.database()).summary().bytes;
  auto rows = reader(dir.database()).list({});
  ASSERT_FALSE(rows.empty());
  if (rows[0].path != "/report/40") {  // a drop, then room made: the next one is stored
    w.submit(failing_request("GET", "/report/41", 500));
    ASSERT_TRUE(eventually([&] { return reader(dir.database()).list({})[0].path == "/report/41"; }));
  }
}

TEST(Writer, the_database_files_are_owner_only) {
  temp_dir dir;
  auto old_mask = ::umask(022);
  auto mode = [](const std::filesystem::path& p) {
    struct stat st{};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 0777;
  };
  auto wal = dir.path / "captures.db-wal", shm = dir.path / "captures.db-shm";
  {
    capture_writer w({.database = dir.database()});
    w.submit(failing_request("GET", "/x", 500));
    ASSERT_TRUE(eventually([&] { return w.stats().stored == 1; }));
    EXPECT_EQ(mode(dir.database()), 0600u);
    EXPECT_EQ(mode(wal), 0600u);
    EXPECT_EQ(mode(shm), 0600u);
  }
  // An existing file that others can read (an older hindsight, a copy) is made owner-only.
  for (const auto& p : {dir.database(), wal, shm}) {
    std::FILE* f = std::fopen(p.c_str(), "ab");  // an empty -wal or -shm is as good as none
    ASSERT_TRUE(f) << p;
    std::fclose(f);
    ::chmod(p.c_str(), 0644);
  }
  {
    capture_writer w({.database = dir.database()});
    EXPECT_EQ(mode(dir.database()), 0600u);
    EXPECT_EQ(mode(wal), 0600u);
    EXPECT_EQ(mode(shm), 0600u);
    w.submit(failing_request("GET", "/y", 500));
    ASSERT_TRUE(eventually([&] { return w.stats().stored == 1; }));
  }
  ::umask(old_mask);
  EXPECT_EQ(reader(dir.database()).summary().rows, 2u);
}

TEST(Writer, a_nearly_full_file_system_drops_the_batch_and_says_so) {
  temp_dir dir;
  struct statvfs fs{};
  ASSERT_EQ(::statvfs(dir.path.c_str(), &fs), 0);
  std::uint64_t free_bytes = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
  // A reserve beyond what is free: the file system counts as nearly full.
  capture_writer w({.database = dir.database(), .min_free_bytes = free_bytes + (1ull << 30)});
  w.submit(failing_request("GET", "/x", 500));
  ASSERT_TRUE(eventually([&] { return dropped(w.stats(), drop_reason::database_full) == 1; }));
  auto st = w.stats();
  EXPECT_EQ(st.stored, 0u);
  EXPECT_NE(st.last_error.find("nearly full"), std::string::npos) << st.last_error;
  EXPECT_NE(st.last_error.find(dir.path.string()), std::string::npos) << st.last_error;
  EXPECT_EQ(reader(dir.database()).summary().rows, 0u);
}

TEST(Writer, the_queue_is_bounded_by_bytes_too) {
  temp_dir dir;
  capture_writer w({.database = dir.database(), .queue_bytes = 3u << 20, .busy_timeout = 10s});
  auto big = failing_request("PUT", "/upload", 500);
  big.request_body = std::string((1 << 20) - 1000, 'x');
  int accepted = 0;
  {
    sqlite::database other(dir.database(), sqlite::open_mode::read_write);
    sqlite::transaction lock(other);
    // The thread takes this one and waits for the lock with it; the queue is then empty.
    w.submit(failing_request("GET", "/first", 500));
    ASSERT_TRUE(eventually([&] { return w.stats().queue_length == 0; }));
    for (int i = 0; i < 10; ++i) accepted += w.submit(capture(big));
    EXPECT_EQ(accepted, 3);
    EXPECT_EQ(dropped(w.stats(), drop_reason::queue_full), 7u);
  }
  ASSERT_TRUE(eventually([&] { return w.stats().stored == 4; }));
}

namespace {

replay_record live_session(std::string transcript, std::string outcome = "completed") {
  replay_record r;
  r.time_us = now_us();
  r.mode = "pdb";
  r.app_spec = "shop.wsgi:application";
  r.status = 500;
  r.exception_json = R"({"type":"KeyError"})";
  r.result_json = R"({"type":"response","status":"500 Internal Server Error"})";
  r.body = "oops";
  r.duration_ms = 4200;
  r.outcome = std::move(outcome);
  r.transcript = std::move(transcript);
  r.trigger = "pdb-q";
  return r;
}

std::vector<replay_record> replays_in(const std::filesystem::path& database) {
  sqlite::database db(database, sqlite::open_mode::read_only);
  return list_replays(db, 0, 0);
}

}  // namespace

TEST(Writer, stores_a_live_session_with_its_capture) {
  temp_dir dir;
  auto debugged = failing_request("GET", "/orders/7/total?pdb=1", 500);
  debugged.captured_because = "rule";
  debugged.live_session = live_session("(Pdb) p order\r\n{'id': 7}\r\n(Pdb) c\r\n"s + '\0');
  {
    capture_writer w({.database = dir.database()});
    w.submit(failing_request("GET", "/before", 500));
    w.submit(capture(debugged));
    w.submit(failing_request("GET", "/after", 500));
    ASSERT_TRUE(eventually([&] { return w.stats().stored == 3; }));
  }
  auto rows = reader(dir.database()).list({});
  ASSERT_EQ(rows.size(), 3u);
  ASSERT_EQ(rows[1].path, "/orders/7/total");
  auto sessions = replays_in(dir.database());
  ASSERT_EQ(sessions.size(), 1u);
  const auto& s = sessions[0];
  EXPECT_EQ(s.capture_id, rows[1].id);  // the new capture's id, not the one in the record
  EXPECT_EQ(s.transcript, debugged.live_session->transcript);
  EXPECT_EQ(s.trigger, "pdb-q");
  EXPECT_EQ(s.mode, "pdb");
  EXPECT_EQ(s.app_spec, "shop.wsgi:application");
  EXPECT_EQ(s.status, 500);
  EXPECT_EQ(s.exception_json, debugged.live_session->exception_json);
  EXPECT_EQ(s.result_json, debugged.live_session->result_json);
  EXPECT_EQ(s.body, "oops");
  EXPECT_DOUBLE_EQ(s.duration_ms, 4200);
  EXPECT_EQ(s.outcome, "completed");

  // It goes with its capture.
  sqlite::database db(dir.database(), sqlite::open_mode::read_write);
  EXPECT_EQ(delete_first_captures(db, 2), 2u);
  EXPECT_TRUE(list_replays(db, 0, 0).empty());
}

TEST(Writer, a_live_session_sqlite_refuses_leaves_the_captures_stored) {
  temp_dir dir;
  auto debugged = failing_request("GET", "/x?pdb=1", 500);
  debugged.live_session = live_session("(Pdb) ", "half-done");  // not an outcome the table takes
  {
    capture_writer w({.database = dir.database()});
    w.submit(failing_request("GET", "/before", 500));
    w.submit(std::move(debugged));
    ASSERT_TRUE(eventually([&] { return w.stats().stored == 2; }));
    EXPECT_EQ(w.stats().last_error, "");
  }
  EXPECT_EQ(reader(dir.database()).list({}).size(), 2u);
  EXPECT_TRUE(replays_in(dir.database()).empty());
}

TEST(Writer, a_live_sessions_transcript_counts_in_the_queue_and_its_drop_with_the_capture) {
  temp_dir dir;
  capture_writer w({.database = dir.database(), .queue_bytes = 3u << 20, .busy_timeout = 10s});
  auto debugged = failing_request("GET", "/x?pdb=1", 500);
  debugged.live_session = live_session(std::string((1 << 20) - 1000, 't'));
  int accepted = 0;
  {
    sqlite::database other(dir.database(), sqlite::open_mode::read_write);
    sqlite::transaction lock(other);
    w.submit(failing_request("GET", "/first", 500));
    ASSERT_TRUE(eventually([&] { return w.stats().queue_length == 0; }));
    for (int i = 0; i < 10; ++i) accepted += w.submit(capture(debugged));
    EXPECT_EQ(accepted, 3);
    EXPECT_EQ(dropped(w.stats(), drop_reason::queue_full), 7u);
  }
  ASSERT_TRUE(eventually([&] { return w.stats().stored == 4; }));
  EXPECT_EQ(replays_in(dir.database()).size(), 3u);
  auto summary = reader(dir.database()).summary();
  EXPECT_EQ(dropped_total(summary, "queue_full"), 7u);
  // --retain-bytes sees the transcript too: it is deleted with the capture.
  EXPECT_GT(summary.bytes, 3 * debugged.live_session->transcript.size());
}

TEST(Writer, the_default_queue_holds_at_most_64_mebibytes) {
  temp_dir dir;
  capture_writer w({.database = dir.database(), .busy_timeout = 10s});
  EXPECT_EQ(w.options().queue_bytes, 64u << 20);
  auto big = failing_request("PUT", "/upload", 500);
  big.request_body = std::string(1 << 20, 'x');
  int accepted = 0;
  {
    sqlite::database other(dir.database(), sqlite::open_mode::read_write);
    sqlite::transaction lock(other);
    w.submit(failing_request("GET", "/first", 500));
    ASSERT_TRUE(eventually([&] { return w.stats().queue_length == 0; }));
    for (int i = 0; i < 100; ++i) accepted += w.submit(capture(big));
  }
  EXPECT_GE(accepted, 60);
  EXPECT_LT(accepted, 64);
  EXPECT_EQ(dropped(w.stats(), drop_reason::queue_full), 100u - accepted);
}

TEST(Writer, retention_keeps_up_with_a_storm_of_large_captures) {
  temp_dir dir;
  auto big = failing_request("PUT", "/upload", 500);
  big.request_body = std::string(1 << 20, 'x');
  {
    capture_writer fill({.database = dir.database(), .keep = {.rows = 0, .bytes = 0, .age = 0s}});
    for (int i = 0; i < 64; ++i) {
      while (fill.stats().queue_length >= 8) std::this_thread::sleep_for(1ms);
      fill.submit(capture(big));
    }
    ASSERT_TRUE(eventually([&] { return fill.stats().stored == 64; }));
  }
  constexpr std::uint64_t limit = 8 << 20;
  capture_writer w({.database = dir.database(), .keep = {.rows = 0, .bytes = limit, .age = 0s}});
  reader r(dir.database());
  // Two seconds of 1 MiB failures, as fast as the writer takes them.
  auto until = std::chrono::steady_clock::now() + 2s;
  while (std::chrono::steady_clock::now() < until) {
    if (w.stats().queue_length < 8) w.submit(capture(big));
    std::this_thread::sleep_for(2ms);
  }
  // Each retention pass frees at most 16 MiB: once a second, the 64 MiB excess alone
  // would take four seconds, and the storm would keep it over the limit.
  auto during = r.summary().bytes;
  EXPECT_LE(during, limit + (24u << 20)) << "still " << during << " bytes stored; stored " << w.stats().stored << ", pruned " << w.stats().pruned;
  ASSERT_TRUE(eventually([&] { return r.summary().bytes <= limit; }));
  EXPECT_GT(w.stats().stored, 16u);
}

TEST(Writer, other_database_errors_are_counted_and_the_writer_recovers) {
  temp_dir dir;
  capture_writer w({.database = dir.database()});
  sqlite::database other(dir.database(), sqlite::open_mode::read_write);
  other.exec("CREATE TRIGGER refuse BEFORE INSERT ON captures BEGIN SELECT RAISE(ABORT, 'refused'); END");
  w.submit(failing_request("GET", "/x", 500));
  ASSERT_TRUE(eventually([&] { return dropped(w.stats(), drop_reason::database_error) == 1; }));
  EXPECT_NE(w.stats().last_error.find(dir.database().string()), std::string::npos) << w.stats().last_error;
  other.exec("DROP TRIGGER refuse");
  w.submit(failing_request("GET", "/y", 500));
  ASSERT_TRUE(eventually([&] { return w.stats().stored == 1; }));
  EXPECT_EQ(w.stats().last_error, "");
  auto rows = reader(dir.database()).list({});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].path, "/y");
}

TEST(Writer, retention_deletes_the_oldest_beyond_rows_and_age) {
  temp_dir dir;
  retention keep{.rows = 3, .bytes = 0, .age = std::chrono::hours(24 * 14)};
  capture_writer w({.database = dir.database(), .keep = keep});
  auto now = now_us();
  w.submit(failing_request("GET", "/expired", 500, now - 30ll * 86'400'000'000));
  for (int i = 1; i <= 5; ++i) w.submit(failing_request("GET", "/recent/" + std::to_string(i), 500, now));
  // Retention runs about once a second on the writer's thread.
  ASSERT_TRUE(eventually([&] { return w.stats().pruned == 3; }));
  auto rows = reader(dir.database()).list({});
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].path, "/recent/5");
  EXPECT_EQ(rows[2].path, "/recent/3");
}

TEST(Writer, stores_what_is_queued_when_destroyed) {
  temp_dir dir;
  {
    capture_writer w({.database = dir.database()});
    for (int i = 0; i < 200; ++i) w.submit(failing_request("GET", "/x", 500));
  }
  auto summary = reader(dir.database()).summary();
  EXPECT_EQ(summary.rows, 200u);
  EXPECT_EQ(summary.stored_total, 200u);
}

TEST(Writer, refuses_a_database_from_a_newer_hindsight) {
  temp_dir dir;
  {
    sqlite::database db(dir.database(), sqlite::open_mode::create);
    db.pragma("user_version", std::to_string(known_schema_version() + 1));
  }
  try {
    capture_writer w({.database = dir.database()});
    FAIL() << "the writer opened a newer schema";
  } catch (const error& e) {
    EXPECT_NE(std::string(e.what()).find("written by a newer hindsight"), std::string::npos) << e.what();
  }
}

TEST(Writer, a_missing_data_directory_is_a_clear_error) {
  temp_dir dir;
  try {
    capture_writer w({.database = dir.path / "absent" / "captures.db"});
    FAIL() << "the writer opened a database in a missing directory";
  } catch (const error& e) {
    std::string message = e.what();
    EXPECT_NE(message.find((dir.path / "absent" / "captures.db").string()), std::string::npos) << message;
    EXPECT_NE(message.find("writable"), std::string::npos) << message;
  }
}
