#pragma once
// Small RAII wrappers over SQLite's C API, modelled on SQLiteCpp: a connection, a
// prepared statement and a transaction guard. Every failure throws store::error with
// SQLite's extended result code and a message naming the database file.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "store/error.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace hindsight::store::sqlite {

enum class open_mode { read_only, read_write, create };

class database {
 public:
  // busy_timeout: how long a statement waits for another connection's lock before it
  // fails with SQLITE_BUSY. Every connection sets one: without it a reader that meets
  // the writer's checkpoint, or two writers, fail at once.
  database(const std::filesystem::path& path, open_mode mode,
           std::chrono::milliseconds busy_timeout = std::chrono::milliseconds(5000));

  // Runs statements whose rows, if any, are not wanted, e.g. DDL.
  void exec(std::string_view sql);
  // Runs "PRAGMA name" or "PRAGMA name = value" and returns the first column of its first
  // row as text ("" when it returns none): journal_mode answers the mode it got.
  std::string pragma(std::string_view name, std::string_view value = {});
  std::int64_t pragma_int(std::string_view name);

  std::int64_t last_insert_rowid() const;
  std::int64_t changes() const;
  bool in_transaction() const;
  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_.get(); }

  // "<doing> '<path>': <sqlite3_errmsg>", for a call on this connection that returned `code`.
  std::string describe(int code, std::string_view doing) const;
  [[noreturn]] void fail(int code, std::string_view doing) const;

 private:
  struct closer {
    void operator()(sqlite3* db) const noexcept;
  };
  std::string path_;
  std::unique_ptr<sqlite3, closer> db_;
};

class statement {
 public:
  statement(database& db, std::string_view sql);

  // Parameters are numbered from 1, as in SQLite. Text and blobs are copied.
  void bind_int64(int index, std::int64_t value);
  void bind_double(int index, double value);
  void bind_text(int index, std::string_view value);
  void bind_blob(int index, std::string_view bytes);
  // Not copied: `bytes` must stay valid until the statement is stepped and its bindings
  // are cleared (for large bodies on the writer's hot path).
  void bind_blob_view(int index, std::string_view bytes);
  void bind_null(int index);

  // true: a row is ready for the column getters; false: the statement is done.
  bool step();
  // Steps a statement that returns no rows (or whose rows are not wanted) to its end, then resets it.
  void run();
  // Ready to run again; bindings are kept until clear_bindings.
  void reset() noexcept;
  void clear_bindings() noexcept;

  // Columns are numbered from 0.
  bool is_null(int column) const;
  std::int64_t column_int64(int column) const;
  double column_double(int column) const;
  std::string column_text(int column) const;
  std::string column_blob(int column) const;

 private:
  struct finalizer {
    void operator()(sqlite3_stmt* stmt) const noexcept;
  };
  void check_bind(int code, int index);
  database* db_;
  std::string sql_;
  std::unique_ptr<sqlite3_stmt, finalizer> stmt_;
};

// BEGIN on construction, ROLLBACK in the destructor unless commit() ran first.
class transaction {
 public:
  // immediate takes the write lock at once, so a writer fails (or waits) here rather than
  // at its first write after reading; deferred is a read snapshot until the first write.
  enum class kind { deferred, immediate };
  explicit transaction(database& db, kind k = kind::immediate);
  ~transaction();
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;

  void commit();

 private:
  database& db_;
  bool done_ = false;
};

}  // namespace hindsight::store::sqlite
