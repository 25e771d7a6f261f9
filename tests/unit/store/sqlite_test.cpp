#include "store/sqlite.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "store_test_support.hpp"

using namespace hindsight::store;
using namespace std::string_literals;

namespace {

std::string message_of(auto&& call) {
  try {
    call();
  } catch (const error& e) {
    return e.what();
  }
  return "(no error)";
}

int code_of(auto&& call) {
  try {
    call();
  } catch (const error& e) {
    return e.code;
  }
  return SQLITE_OK;
}

}  // namespace

TEST(Sqlite, binds_and_reads_every_type) {
  sqlite::database db(":memory:", sqlite::open_mode::create);
  db.exec("CREATE TABLE t (i INTEGER, d REAL, s TEXT, b BLOB, n)");
  sqlite::statement insert(db, "INSERT INTO t VALUES (?, ?, ?, ?, ?)");
  insert.bind_int64(1, 1ll << 40);
  insert.bind_double(2, 2.5);
  insert.bind_text(3, "caf\xc3\xa9");
  insert.bind_blob(4, "a\0b\xff"s);
  insert.bind_null(5);
  insert.run();
  // An empty blob stays a blob, not NULL.
  insert.bind_blob(4, "");
  insert.run();

  sqlite::statement select(db, "SELECT i, d, s, b, n FROM t ORDER BY rowid");
  ASSERT_TRUE(select.step());
  EXPECT_EQ(select.column_int64(0), 1ll << 40);
  EXPECT_EQ(select.column_double(1), 2.5);
  EXPECT_EQ(select.column_text(2), "caf\xc3\xa9");
  EXPECT_EQ(select.column_blob(3), "a\0b\xff"s);
  EXPECT_TRUE(select.is_null(4));
  ASSERT_TRUE(select.step());
  EXPECT_FALSE(select.is_null(3));
  EXPECT_EQ(select.column_blob(3), "");
  EXPECT_FALSE(select.step());
}

TEST(Sqlite, errors_name_the_database_and_say_why) {
  hindsight::store::testing::temp_dir dir;
  auto path = dir.database().string();
  sqlite::database db(path, sqlite::open_mode::create);
  auto bad_sql = message_of([&] { sqlite::statement(db, "SELECT * FROM nowhere"); });
  EXPECT_NE(bad_sql.find(path), std::string::npos) << bad_sql;
  EXPECT_NE(bad_sql.find("no such table: nowhere"), std::string::npos) << bad_sql;

  auto missing = (dir.path / "absent" / "x.db").string();
  auto cannot_open = message_of([&] { sqlite::database(missing, sqlite::open_mode::read_only); });
  EXPECT_NE(cannot_open.find(missing), std::string::npos) << cannot_open;
  EXPECT_NE(cannot_open.find("unable to open database file"), std::string::npos) << cannot_open;
  EXPECT_EQ(code_of([&] { sqlite::database(missing, sqlite::open_mode::read_only); }) & 0xff, SQLITE_CANTOPEN);
}

TEST(Sqlite, errors_carry_the_extended_code_and_leave_the_statement_reusable) {
  sqlite::database db(":memory:", sqlite::open_mode::create);
  db.exec("CREATE TABLE t (k TEXT PRIMARY KEY)");
  sqlite::statement insert(db, "INSERT INTO t VALUES (?)");
  insert.bind_text(1, "a");
  insert.run();
  EXPECT_EQ(code_of([&] { insert.run(); }), SQLITE_CONSTRAINT_PRIMARYKEY);
  insert.bind_text(1, "b");
  insert.run();
  sqlite::statement count(db, "SELECT count(*) FROM t");
  ASSERT_TRUE(count.step());
  EXPECT_EQ(count.column_int64(0), 2);
}

TEST(Sqlite, pragma_answers_its_result) {
  sqlite::database db(":memory:", sqlite::open_mode::create);
  EXPECT_EQ(db.pragma("journal_mode", "WAL"), "memory");  // :memory: cannot do WAL and says so
  db.pragma("user_version", "7");
  EXPECT_EQ(db.pragma_int("user_version"), 7);
  EXPECT_EQ(db.pragma("user_version"), "7");
}

TEST(Sqlite, transaction_rolls_back_unless_committed) {
  sqlite::database db(":memory:", sqlite::open_mode::create);
  db.exec("CREATE TABLE t (x)");
  {
    sqlite::transaction t(db);
    db.exec("INSERT INTO t VALUES (1)");
    EXPECT_TRUE(db.in_transaction());
  }
  EXPECT_FALSE(db.in_transaction());
  {
    sqlite::transaction t(db);
    db.exec("INSERT INTO t VALUES (2)");
    t.commit();
  }
  sqlite::statement s(db, "SELECT group_concat(x) FROM t");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.column_text(0), "2");
}

TEST(Sqlite, a_held_write_lock_fails_after_the_busy_timeout_with_sqlite_busy) {
  hindsight::store::testing::temp_dir dir;
  sqlite::database holder(dir.database(), sqlite::open_mode::create);
  holder.pragma("journal_mode", "WAL");
  holder.exec("CREATE TABLE t (x)");
  sqlite::transaction lock(holder);

  sqlite::database waiter(dir.database(), sqlite::open_mode::read_write, std::chrono::milliseconds(50));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(code_of([&] { sqlite::transaction t(waiter); }), SQLITE_BUSY);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(40));
  EXPECT_FALSE(waiter.in_transaction());
  // A reader is not blocked by the writer in WAL mode.
  sqlite::statement read(waiter, "SELECT count(*) FROM t");
  EXPECT_TRUE(read.step());
}
