#include "store/replays.hpp"

#include <gtest/gtest.h>

#include "store/schema.hpp"
#include "store_test_support.hpp"

using namespace hindsight::store;

namespace {

replay_record attempt(std::int64_t capture_id, std::string outcome) {
  replay_record r;
  r.capture_id = capture_id;
  r.time_us = 1'764'000'000'000'000;
  r.mode = "run";
  r.app_spec = "myapp.wsgi:application";
  r.outcome = std::move(outcome);
  r.duration_ms = 3.5;
  return r;
}

}  // namespace

TEST(Replays, round_trip_every_field) {
  sqlite::database db(":memory:", sqlite::open_mode::create);
  prepare_for_writing(db);
  auto r = attempt(42, "completed");
  r.mode = "post_mortem";
  r.status = 500;
  r.exception_json = R"({"type":"KeyError"})";
  r.result_json = R"({"type":"response","status":"500 Internal Server Error"})";
  r.body = std::string("bin\0ary", 7);
  auto id = insert_replay(db, r);
  EXPECT_GT(id, 0);
  auto back = get_replay(db, id);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, id);
  EXPECT_EQ(back->capture_id, 42);
  EXPECT_EQ(back->time_us, r.time_us);
  EXPECT_EQ(back->mode, "post_mortem");
  EXPECT_EQ(back->app_spec, "myapp.wsgi:application");
  EXPECT_EQ(back->status, 500);
  EXPECT_EQ(back->exception_json, r.exception_json);
  EXPECT_EQ(back->result_json, r.result_json);
  EXPECT_EQ(back->body, r.body);
  EXPECT_DOUBLE_EQ(back->duration_ms, 3.5);
  EXPECT_EQ(back->outcome, "completed");
  EXPECT_EQ(back->error, "");
  EXPECT_FALSE(get_replay(db, id + 1));
}

TEST(Replays, a_failed_attempt_has_no_status_nor_exception) {
  sqlite::database db(":memory:", sqlite::open_mode::create);
  prepare_for_writing(db);
  auto r = attempt(1, "timeout");
  r.error = "the request did not finish within 1 s";
  auto back = get_replay(db, insert_replay(db, r));
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->status);
  EXPECT_EQ(back->exception_json, "");
  EXPECT_EQ(back->result_json, "");
  EXPECT_EQ(back->error, r.error);
}

TEST(Replays, refuses_an_unknown_outcome) {
  sqlite::database db(":memory:", sqlite::open_mode::create);
  prepare_for_writing(db);
  EXPECT_THROW(insert_replay(db, attempt(1, "maybe")), error);
}

TEST(Replays, lists_newest_first_per_capture_or_all) {
  sqlite::database db(":memory:", sqlite::open_mode::create);
  prepare_for_writing(db);
  auto a = insert_replay(db, attempt(1, "completed"));
  auto b = insert_replay(db, attempt(2, "crashed"));
  auto c = insert_replay(db, attempt(1, "error"));
  auto of_one = list_replays(db, 1, 0);
  ASSERT_EQ(of_one.size(), 2u);
  EXPECT_EQ(of_one[0].id, c);
  EXPECT_EQ(of_one[1].id, a);
  auto all = list_replays(db, 0, 2);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, c);
  EXPECT_EQ(all[1].id, b);
}

TEST(Replays, ids_are_never_reused_and_go_with_their_capture) {
  hindsight::store::testing::temp_dir dir;
  sqlite::database db(dir.database(), sqlite::open_mode::create);
  prepare_for_writing(db);
  db.exec("INSERT INTO groups VALUES (1, 'GET / 500 ', 'GET', '/', 500, '', 1, 0, 0)");
  db.exec(
      "INSERT INTO captures (id, time_us, client, scheme, host, method, target, path, version, status, reason, "
      "duration_ms, upstream_ms, upstream_error_kind, upstream_error, app_restarted, captured_because, group_id, "
      "replayable, request_body_size, request_body_truncated, request_complete, response_body_size, "
      "response_body_truncated, redacted, size) "
      "VALUES (5, 0, '', 'http', '', 'GET', '/', '/', 11, 500, '', 1, 1, '', '', 0, 'status', 1, 1, 0, 0, 1, 0, 0, "
      "'[]', 10)");
  db.exec("INSERT INTO capture_bodies VALUES (5, '', '', '', '')");
  auto first = insert_replay(db, attempt(5, "completed"));
  insert_replay(db, attempt(6, "completed"));
  EXPECT_EQ(delete_first_captures(db, 10), 1u);
  EXPECT_TRUE(list_replays(db, 5, 0).empty());
  EXPECT_EQ(list_replays(db, 6, 0).size(), 1u);
  db.exec("DELETE FROM replays");
  EXPECT_GT(insert_replay(db, attempt(6, "completed")), first + 1);
}

TEST(Replays, migration_two_upgrades_a_version_one_file) {
  hindsight::store::testing::temp_dir dir;
  {
    sqlite::database db(dir.database(), sqlite::open_mode::create);
    prepare_for_writing(db);
    // What migrations 2 and 3 added, gone: a file as a schema-1 build left it.
    db.exec(
        "DROP TRIGGER rules_inserted; DROP TRIGGER rules_deleted; DROP TRIGGER rules_changed; DROP TABLE rules; "
        "DELETE FROM counters WHERE name = 'rules_version'; "
        "DROP TRIGGER captures_deleted_replays; DROP TABLE replays; PRAGMA user_version = 1");
  }
  sqlite::database db(dir.database(), sqlite::open_mode::read_write);
  EXPECT_EQ(schema_version(db), 1);
  prepare_for_writing(db);
  EXPECT_EQ(schema_version(db), known_schema_version());
  EXPECT_GT(insert_replay(db, attempt(1, "completed")), 0);
}

TEST(Replays, a_live_session_keeps_its_transcript_and_trigger) {
  sqlite::database db(":memory:", sqlite::open_mode::create);
  prepare_for_writing(db);
  auto r = attempt(7, "completed");
  r.mode = "pdb";
  r.transcript = std::string("> /srv/app/views.py(12)total()\r\n(Pdb) c\r\n\x1b[?2004l\0end", 53);
  r.trigger = "pdb-q";
  auto back = get_replay(db, insert_replay(db, r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->transcript, r.transcript);
  EXPECT_EQ(back->trigger, "pdb-q");

  // A `hindsight replay` has neither: NULL in the file, "" in the record.
  auto plain = insert_replay(db, attempt(7, "completed"));
  sqlite::statement s(db, "SELECT transcript IS NULL, \"trigger\" IS NULL FROM replays WHERE id = ?");
  s.bind_int64(1, plain);
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.column_int64(0), 1);
  EXPECT_EQ(s.column_int64(1), 1);
  auto listed = list_replays(db, 7, 0);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].transcript, "");
  EXPECT_EQ(listed[0].trigger, "");
  EXPECT_EQ(listed[1].trigger, "pdb-q");
}

TEST(Replays, migration_four_adds_transcript_and_trigger_to_a_version_three_file) {
  hindsight::store::testing::temp_dir dir;
  std::int64_t old_row = 0;
  {
    // A file as a schema-3 build left it, with one replay in it.
    sqlite::database db(dir.database(), sqlite::open_mode::create);
    prepare_for_writing(db);
    db.exec("ALTER TABLE replays DROP COLUMN transcript; ALTER TABLE replays DROP COLUMN \"trigger\"; "
            "PRAGMA user_version = 3");
    db.exec("INSERT INTO replays (capture_id, time_us, mode, app_spec, status, body, duration_ms, outcome, error) "
            "VALUES (3, 1, 'run', 'app:app', 500, x'00ff', 2.5, 'completed', '')");
    old_row = db.last_insert_rowid();
  }
  {
    // Read as `show` reads it, without migrating: the rows are there, without the new fields.
    sqlite::database db(dir.database(), sqlite::open_mode::read_only);
    EXPECT_EQ(schema_version(db), 3);
    auto rows = list_replays(db, 3, 0);
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].body, std::string("\0\xff", 2));
    EXPECT_EQ(rows[0].transcript, "");
    EXPECT_EQ(rows[0].trigger, "");
    ASSERT_TRUE(get_replay(db, old_row));
  }
  sqlite::database db(dir.database(), sqlite::open_mode::read_write);
  prepare_for_writing(db);
  EXPECT_EQ(schema_version(db), 4);
  auto r = attempt(3, "completed");
  r.transcript = "(Pdb) ";
  r.trigger = "live";
  auto id = insert_replay(db, r);
  auto rows = list_replays(db, 3, 0);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].id, id);
  EXPECT_EQ(rows[0].transcript, "(Pdb) ");
  EXPECT_EQ(rows[1].id, old_row);
  EXPECT_EQ(rows[1].body, std::string("\0\xff", 2));
  EXPECT_EQ(rows[1].trigger, "");
}
