#include "store/schema.hpp"

#include <gtest/gtest.h>

#include "store_test_support.hpp"

using namespace hindsight::store;
using namespace std::chrono_literals;

namespace {

std::int64_t query_int(sqlite::database& db, const std::string& sql) {
  sqlite::statement s(db, sql);
  EXPECT_TRUE(s.step()) << sql;
  return s.column_int64(0);
}

// A minimal capture row, written the way the writer writes one: a group, the row, its bodies.
void insert_capture(sqlite::database& db, std::int64_t id, std::int64_t time_us, std::int64_t size,
                    std::int64_t group_id = 1, std::string body = "") {
  sqlite::statement group(db,
                          "INSERT OR IGNORE INTO groups VALUES (?, 'GET / 500 ' || ?, 'GET', '/', 500, '', 1, 0, 0)");
  group.bind_int64(1, group_id);
  group.bind_int64(2, group_id);
  group.run();
  sqlite::statement row(
      db,
      "INSERT INTO captures (id, time_us, client, scheme, host, method, target, path, version, status, reason, "
      "duration_ms, upstream_ms, upstream_error_kind, upstream_error, app_restarted, captured_because, group_id, "
      "replayable, request_body_size, request_body_truncated, request_complete, response_body_size, "
      "response_body_truncated, redacted, size) "
      "VALUES (?, ?, '', 'http', '', 'GET', '/', '/', 11, 500, '', 1, 1, '', '', 0, 'status', ?, 1, 0, 0, 1, 0, 0, "
      "'[]', ?)");
  row.bind_int64(1, id);
  row.bind_int64(2, time_us);
  row.bind_int64(3, group_id);
  row.bind_int64(4, size);
  row.run();
  sqlite::statement bodies(db, "INSERT INTO capture_bodies VALUES (?, '', ?, '', '')");
  bodies.bind_int64(1, id);
  bodies.bind_blob(2, body);
  bodies.run();
}

std::string remaining_ids(sqlite::database& db) {
  sqlite::statement s(db, "SELECT coalesce(group_concat(id), '') FROM (SELECT id FROM captures ORDER BY id)");
  s.step();
  return s.column_text(0);
}

retention unlimited() { return retention{.rows = 0, .bytes = 0, .age = 0s}; }

}  // namespace

TEST(Schema, creates_a_new_file_in_wal_mode_with_incremental_vacuum) {
  hindsight::store::testing::temp_dir dir;
  sqlite::database db(dir.database(), sqlite::open_mode::create);
  EXPECT_EQ(schema_version(db), 0);
  prepare_for_writing(db);
  EXPECT_EQ(schema_version(db), known_schema_version());
  EXPECT_EQ(db.pragma("journal_mode"), "wal");
  EXPECT_EQ(db.pragma_int("auto_vacuum"), 2);  // incremental
  EXPECT_EQ(db.pragma_int("synchronous"), 1);  // normal
  for (auto table : {"captures", "capture_bodies", "groups", "totals", "counters"}) {
    EXPECT_EQ(query_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '" +
                                std::string(table) + "'"),
              1)
        << table;
  }
  EXPECT_EQ(query_int(db, "SELECT rows FROM totals"), 0);
}

TEST(Schema, reopening_a_current_file_keeps_its_rows_and_version) {
  hindsight::store::testing::temp_dir dir;
  {
    sqlite::database db(dir.database(), sqlite::open_mode::create);
    prepare_for_writing(db);
    insert_capture(db, 1, 10, 100);
  }
  sqlite::database db(dir.database(), sqlite::open_mode::read_write);
  prepare_for_writing(db);
  prepare_for_writing(db);
  EXPECT_EQ(schema_version(db), known_schema_version());
  EXPECT_EQ(query_int(db, "SELECT rows FROM totals"), 1);
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM captures"), 1);
}

TEST(Schema, refuses_a_file_from_a_newer_hindsight_without_touching_it) {
  hindsight::store::testing::temp_dir dir;
  int newer = known_schema_version() + 1;
  {
    sqlite::database db(dir.database(), sqlite::open_mode::create);
    db.pragma("user_version", std::to_string(newer));
  }
  sqlite::database db(dir.database(), sqlite::open_mode::read_write);
  try {
    prepare_for_writing(db);
    FAIL() << "a newer schema was accepted";
  } catch (const error& e) {
    EXPECT_EQ(std::string(e.what()), "the database '" + dir.database().string() +
                                         "' was written by a newer hindsight (schema " + std::to_string(newer) +
                                         ", this build knows " + std::to_string(known_schema_version()) +
                                         "): upgrade hindsight or use another --data directory");
  }
  EXPECT_EQ(db.pragma("journal_mode"), "delete");
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM sqlite_schema"), 0);
}

TEST(Schema, totals_and_bodies_follow_inserts_and_deletes) {
  sqlite::database db(":memory:", sqlite::open_mode::create);
  prepare_for_writing(db);
  insert_capture(db, 1, 10, 100);
  insert_capture(db, 2, 20, 250);
  insert_capture(db, 3, 30, 50);
  EXPECT_EQ(query_int(db, "SELECT rows FROM totals"), 3);
  EXPECT_EQ(query_int(db, "SELECT bytes FROM totals"), 400);
  db.exec("DELETE FROM captures WHERE id = 2");
  EXPECT_EQ(query_int(db, "SELECT rows FROM totals"), 2);
  EXPECT_EQ(query_int(db, "SELECT bytes FROM totals"), 150);
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM capture_bodies WHERE id = 2"), 0);
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM capture_bodies"), 2);
}

TEST(Schema, retention_by_rows_deletes_the_oldest_in_bounded_steps) {
  sqlite::database db(":memory:", sqlite::open_mode::create);
  prepare_for_writing(db);
  for (int id = 1; id <= 5; ++id) insert_capture(db, id, id * 10, 100);
  auto keep = unlimited();
  keep.rows = 2;
  EXPECT_EQ(delete_oldest(db, keep, 1000, 2), 2u);  // at most two a step
  EXPECT_EQ(remaining_ids(db), "3,4,5");
  EXPECT_EQ(delete_oldest(db, keep, 1000, 2), 1u);
  EXPECT_EQ(delete_oldest(db, keep, 1000, 2), 0u);
  EXPECT_EQ(remaining_ids(db), "4,5");
  EXPECT_EQ(query_int(db, "SELECT rows FROM totals"), 2);
}

TEST(Schema, retention_by_bytes_deletes_until_the_rest_fits) {
  sqlite::database db(":memory:", sqlite::open_mode::create);
  prepare_for_writing(db);
  insert_capture(db, 1, 10, 300);
  insert_capture(db, 2, 20, 300);
  insert_capture(db, 3, 30, 300);
  insert_capture(db, 4, 40, 300);
  auto keep = unlimited();
  keep.bytes = 700;  // 1200 stored: two of the oldest must go to get under
  EXPECT_EQ(delete_oldest(db, keep, 1000, 500), 2u);
  EXPECT_EQ(remaining_ids(db), "3,4");
  EXPECT_EQ(delete_oldest(db, keep, 1000, 500), 0u);
}

TEST(Schema, retention_by_age_goes_by_time_not_by_id) {
  sqlite::database db(":memory:", sqlite::open_mode::create);
  prepare_for_writing(db);
  std::int64_t day_us = 86'400'000'000;
  std::int64_t now = 100 * day_us;
  insert_capture(db, 1, now - 1 * day_us, 100);
  insert_capture(db, 2, now - 20 * day_us, 100);  // a slow request stored after a newer one
  insert_capture(db, 3, now - 2 * day_us, 100);
  insert_capture(db, 4, now - 30 * day_us, 100);
  auto keep = unlimited();
  keep.age = std::chrono::hours(24 * 14);
  EXPECT_EQ(delete_oldest(db, keep, now, 500), 2u);
  EXPECT_EQ(remaining_ids(db), "1,3");
}

TEST(Schema, retention_removes_groups_left_without_captures) {
  sqlite::database db(":memory:", sqlite::open_mode::create);
  prepare_for_writing(db);
  insert_capture(db, 1, 10, 100, 7);
  insert_capture(db, 2, 20, 100, 8);
  insert_capture(db, 3, 30, 100, 8);
  auto keep = unlimited();
  keep.rows = 1;
  EXPECT_EQ(delete_oldest(db, keep, 1000, 500), 2u);
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM groups WHERE id = 7"), 0);
  EXPECT_EQ(query_int(db, "SELECT count(*) FROM groups WHERE id = 8"), 1);
}

TEST(Schema, free_pages_go_back_to_the_file_system) {
  hindsight::store::testing::temp_dir dir;
  sqlite::database db(dir.database(), sqlite::open_mode::create);
  prepare_for_writing(db);
  insert_capture(db, 1, 10, 100, 1, std::string(1 << 20, 'x'));
  db.exec("DELETE FROM captures");
  auto free_pages = db.pragma_int("freelist_count");
  EXPECT_GT(free_pages, 200);
  EXPECT_EQ(release_free_pages(db, 100), free_pages - 100);
  EXPECT_EQ(release_free_pages(db, free_pages), 0);
  EXPECT_EQ(release_free_pages(db, 100), 0);
}

TEST(Schema, a_deletion_step_stops_after_sixteen_mebibytes_but_always_makes_progress) {
  sqlite::database db(":memory:", sqlite::open_mode::create);
  prepare_for_writing(db);
  std::int64_t mib = 1 << 20;
  insert_capture(db, 1, 10, 40 * mib);  // alone over the budget, still deleted
  insert_capture(db, 2, 20, 10 * mib);
  insert_capture(db, 3, 30, 10 * mib);
  insert_capture(db, 4, 40, 10 * mib);
  EXPECT_EQ(delete_first_captures(db, 500), 1u);
  EXPECT_EQ(delete_first_captures(db, 500), 2u);
  EXPECT_EQ(remaining_ids(db), "4");
  auto keep = unlimited();
  keep.bytes = 1;
  EXPECT_EQ(delete_oldest(db, keep, 1000, 500), 1u);
  EXPECT_EQ(delete_first_captures(db, 500), 0u);
}

TEST(Schema, a_deletion_step_tells_whether_captures_are_still_beyond_the_limits) {
  sqlite::database db(":memory:", sqlite::open_mode::create);
  prepare_for_writing(db);
  std::int64_t mib = 1 << 20;
  for (int id = 1; id <= 5; ++id) insert_capture(db, id, id * 10, 10 * mib);
  auto keep = unlimited();
  keep.bytes = 15 * mib;
  bool beyond = false;
  // 16 MiB a step: two rows, and 30 MiB still stored.
  EXPECT_EQ(delete_oldest(db, keep, 1000, 500, &beyond), 2u);
  EXPECT_TRUE(beyond);
  EXPECT_EQ(delete_oldest(db, keep, 1000, 500, &beyond), 2u);
  EXPECT_FALSE(beyond);
  EXPECT_EQ(remaining_ids(db), "5");

  // The row budget, and the age limit.
  for (int id = 6; id <= 9; ++id) insert_capture(db, id, id * 10, 100);
  keep = unlimited();
  keep.age = 1s;
  std::int64_t now = 1'000'000 + 75;  // older than time 75: ids 5, 6, 7
  EXPECT_EQ(delete_oldest(db, keep, now, 2, &beyond), 2u);
  EXPECT_TRUE(beyond);
  EXPECT_EQ(delete_oldest(db, keep, now, 2, &beyond), 1u);
  EXPECT_FALSE(beyond);
  EXPECT_EQ(remaining_ids(db), "8,9");
}
