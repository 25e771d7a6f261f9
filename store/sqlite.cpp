#include "store/sqlite.hpp"

#include <sqlite3.h>

#include <utility>

namespace hindsight::store::sqlite {
namespace {

int open_flags(open_mode mode) {
  // EXRESCODE: the open itself reports extended codes, as the connection will later.
  // Each connection is used by one thread only: SQLite's own locking of it is overhead.
  int flags = SQLITE_OPEN_EXRESCODE | SQLITE_OPEN_NOMUTEX;
  switch (mode) {
    case open_mode::read_only: return flags | SQLITE_OPEN_READONLY;
    case open_mode::read_write: return flags | SQLITE_OPEN_READWRITE;
    case open_mode::create: return flags | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  }
  return flags;
}

// The statement as a message shows it: its start, on one line.
std::string excerpt(std::string_view sql) {
  std::string out;
  for (char c : sql.substr(0, 60)) out += (c == '\n' || c == '\r') ? ' ' : c;
  if (sql.size() > 60) out += "…";
  return out;
}

}  // namespace

void database::closer::operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }

database::database(const std::filesystem::path& path, open_mode mode, std::chrono::milliseconds busy_timeout)
    : path_(path.string()) {
  sqlite3* raw = nullptr;
  int code = sqlite3_open_v2(path_.c_str(), &raw, open_flags(mode), nullptr);
  db_.reset(raw);  // sqlite3_open_v2 hands back a handle even when it fails; it holds the message
  if (code != SQLITE_OK) fail(code, "cannot open the database");
  sqlite3_extended_result_codes(raw, 1);
  sqlite3_busy_timeout(raw, static_cast<int>(busy_timeout.count()));
}

std::string database::describe(int code, std::string_view doing) const {
  const char* why = db_ ? sqlite3_errmsg(db_.get()) : sqlite3_errstr(code);
  return std::string(doing) + " '" + path_ + "': " + why;
}

void database::fail(int code, std::string_view doing) const { throw error(describe(code, doing), code); }

void database::exec(std::string_view sql) {
  // sqlite3_exec needs a terminated string; the statements are short.
  std::string text(sql);
  int code = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, nullptr);
  if (code != SQLITE_OK) fail(code, "cannot run \"" + excerpt(sql) + "\" on");
}

std::string database::pragma(std::string_view name, std::string_view value) {
  std::string sql = "PRAGMA " + std::string(name);
  if (!value.empty()) sql += " = " + std::string(value);
  statement s(*this, sql);
  std::string first = s.step() && !s.is_null(0) ? s.column_text(0) : "";
  s.reset();
  return first;
}

std::int64_t database::pragma_int(std::string_view name) {
  statement s(*this, "PRAGMA " + std::string(name));
  std::int64_t value = s.step() ? s.column_int64(0) : 0;
  s.reset();
  return value;
}

std::int64_t database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_.get()); }
std::int64_t database::changes() const { return sqlite3_changes64(db_.get()); }
bool database::in_transaction() const { return sqlite3_get_autocommit(db_.get()) == 0; }

void statement::finalizer::operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }

statement::statement(database& db, std::string_view sql) : db_(&db), sql_(sql) {
  sqlite3_stmt* raw = nullptr;
  int code = sqlite3_prepare_v2(db.handle(), sql_.data(), static_cast<int>(sql_.size()), &raw, nullptr);
  stmt_.reset(raw);
  if (code != SQLITE_OK) db.fail(code, "cannot prepare \"" + excerpt(sql_) + "\" on");
}

void statement::check_bind(int code, int index) {
  if (code != SQLITE_OK) {
    db_->fail(code, "cannot bind parameter " + std::to_string(index) + " of \"" + excerpt(sql_) + "\" on");
  }
}

void statement::bind_int64(int index, std::int64_t value) {
  check_bind(sqlite3_bind_int64(stmt_.get(), index, value), index);
}
void statement::bind_double(int index, double value) {
  check_bind(sqlite3_bind_double(stmt_.get(), index, value), index);
}
void statement::bind_text(int index, std::string_view value) {
  check_bind(sqlite3_bind_text64(stmt_.get(), index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
             index);
}
void statement::bind_blob(int index, std::string_view bytes) {
  // A null pointer would bind NULL, not an empty blob.
  const char* data = bytes.empty() ? "" : bytes.data();
  check_bind(sqlite3_bind_blob64(stmt_.get(), index, data, bytes.size(), SQLITE_TRANSIENT), index);
}
void statement::bind_blob_view(int index, std::string_view bytes) {
  const char* data = bytes.empty() ? "" : bytes.data();
  check_bind(sqlite3_bind_blob64(stmt_.get(), index, data, bytes.size(), SQLITE_STATIC), index);
}
void statement::bind_null(int index) { check_bind(sqlite3_bind_null(stmt_.get(), index), index); }

bool statement::step() {
  int code = sqlite3_step(stmt_.get());
  if (code == SQLITE_ROW) return true;
  if (code == SQLITE_DONE) return false;
  std::string message = db_->describe(code, "cannot run \"" + excerpt(sql_) + "\" on");
  // Reset now so the statement can be bound and run again after the caller recovers.
  reset();
  throw error(message, code);
}

void statement::run() {
  while (step()) {
  }
  reset();
}

void statement::reset() noexcept { sqlite3_reset(stmt_.get()); }
void statement::clear_bindings() noexcept { sqlite3_clear_bindings(stmt_.get()); }

bool statement::is_null(int column) const { return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL; }
std::int64_t statement::column_int64(int column) const { return sqlite3_column_int64(stmt_.get(), column); }
double statement::column_double(int column) const { return sqlite3_column_double(stmt_.get(), column); }

std::string statement::column_text(int column) const {
  auto text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_.get(), column));
  return text ? std::string(text, sqlite3_column_bytes(stmt_.get(), column)) : std::string();
}

std::string statement::column_blob(int column) const {
  auto data = static_cast<const char*>(sqlite3_column_blob(stmt_.get(), column));
  return data ? std::string(data, sqlite3_column_bytes(stmt_.get(), column)) : std::string();
}

transaction::transaction(database& db, kind k) : db_(db) {
  db_.exec(k == kind::immediate ? "BEGIN IMMEDIATE" : "BEGIN");
}

transaction::~transaction() {
  // SQLite may already have rolled back by itself (SQLITE_FULL, an I/O error); then
  // there is nothing to undo.
  if (!done_ && db_.in_transaction()) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

}  // namespace hindsight::store::sqlite
