#include "store/queries.hpp"

#include <sqlite3.h>

#include <array>
#include <boost/json.hpp>
#include <variant>

#include "store/schema.hpp"
#include "store/sqlite.hpp"

namespace hindsight::store {
namespace {

// A CLI command waits this long for the proxy's writer (a checkpoint, a batch) before
// it gives up with SQLITE_BUSY.
constexpr auto busy_timeout = std::chrono::milliseconds(5000);
// Deletions and vacuums run in steps this size, each its own transaction, so the
// proxy's writer, waiting on the same lock, never waits long.
constexpr std::size_t rows_per_transaction = 500;
constexpr std::int64_t pages_per_vacuum = 2048;

std::int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

error no_captures_yet(const std::filesystem::path& database) {
  return error("no captures exist yet in '" + database.parent_path().string() + "': the proxy creates " +
               database.filename().string() + " there on its first run with capture on (`hindsight run`)");
}

sqlite::database open_existing(const std::filesystem::path& database, bool writable) {
  std::error_code ec;
  auto dir = database.parent_path();
  if (!dir.empty() && !std::filesystem::is_directory(dir, ec)) {
    throw error("the data directory '" + dir.string() +
                "' does not exist: no proxy has captured there yet (`hindsight run` creates it; pass --data if "
                "the proxy uses another directory)");
  }
  if (!std::filesystem::exists(database, ec)) throw no_captures_yet(database);

  // A read-only connection to a WAL database still needs the -shm and -wal files. SQLite
  // opens (or creates) them read-write whenever the directory allows it, as it does for
  // the proxy's own user, so read-only works next to a live writer and guarantees that
  // list/show/status never change the file.
  sqlite::database db(database, writable ? sqlite::open_mode::read_write : sqlite::open_mode::read_only,
                      busy_timeout);
  int version = schema_version(db);
  if (version == 0) throw no_captures_yet(database);
  if (writable) {
    prepare_for_writing(db);  // synchronous=NORMAL for this connection, and migrations if it lacks any
  } else if (version < known_schema_version()) {
    throw error("the database '" + db.path() + "' was written by an older hindsight (schema " +
                std::to_string(version) + ", this build knows " + std::to_string(known_schema_version()) +
                "): start `hindsight run` of this build on it once to upgrade it");
  }
  return db;
}

capture_summary summary_row(const sqlite::statement& s) {
  capture_summary c;
  c.id = s.column_int64(0);
  c.time_us = s.column_int64(1);
  c.status = static_cast<int>(s.column_int64(2));
  c.method = s.column_text(3);
  c.target = s.column_text(4);
  c.path = s.column_text(5);
  c.duration_ms = s.column_double(6);
  c.group_id = s.column_int64(7);
  c.replayable = s.column_int64(8) != 0;
  c.upstream_error_kind = s.column_text(9);
  return c;
}

std::vector<std::string> parse_redacted(const std::string& json) {
  boost::json::parse_options options;
  options.allow_invalid_utf8 = true;  // scrubbed names come from raw request bytes
  boost::system::error_code ec;
  auto value = boost::json::parse(json, ec, {}, options);
  std::vector<std::string> names;
  if (ec || !value.is_array()) return names;
  for (const auto& name : value.as_array()) {
    if (name.is_string()) names.emplace_back(name.as_string());
  }
  return names;
}

// A deletion that met a full file system: SQLite needs room to write even to delete
// (the WAL, then the checkpoint), so say how to get out of it.
template <class Body>
std::uint64_t explaining_full(const std::filesystem::path& database, Body body) {
  try {
    return body();
  } catch (const error& e) {
    if ((e.code & 0xff) != SQLITE_FULL) throw;
    auto dir = database.parent_path().string();
    throw error(std::string(e.what()) + " — deleting needs free space on the file system holding '" + dir +
                    "' (SQLite writes the deletion to its WAL first): free some space on that file system and run "
                    "this again, or, to drop every capture, stop the proxy and delete " +
                    (database.string() + "*") + " (" + database.filename().string() + ", -wal and -shm)",
                e.code);
  }
}

std::uint64_t file_size_or_zero(const std::filesystem::path& p) {
  std::error_code ec;
  auto size = std::filesystem::file_size(p, ec);
  return ec ? 0 : size;
}

}  // namespace

struct reader::impl {
  std::filesystem::path path;
  bool writable;
  sqlite::database db;

  void require_writable() const {
    if (!writable) throw error("the database '" + path.string() + "' is open read-only here");
  }
  void release_all_free_pages();
};

reader::reader(const std::filesystem::path& database, bool writable)
    : impl_(std::make_unique<impl>(impl{database, writable, open_existing(database, writable)})) {}
reader::~reader() = default;
reader::reader(reader&&) noexcept = default;

std::vector<capture_summary> reader::list(const list_filter& f) {
  // Only the small columns: the headers and bodies live in capture_bodies.
  std::string sql =
      "SELECT id, time_us, status, method, target, path, duration_ms, group_id, replayable, upstream_error_kind "
      "FROM captures WHERE 1";
  std::vector<std::variant<std::int64_t, std::string>> params;
  if (!f.statuses.empty()) {
    sql += " AND (";
    for (std::size_t i = 0; i < f.statuses.size(); ++i) {
      sql += i == 0 ? "status BETWEEN ? AND ?" : " OR status BETWEEN ? AND ?";
      params.emplace_back(std::int64_t{f.statuses[i].first});
      params.emplace_back(std::int64_t{f.statuses[i].second});
    }
    sql += ")";
  }
  if (!f.method.empty()) {
    sql += " AND method = ? COLLATE NOCASE";
    params.emplace_back(f.method);
  }
  if (!f.path_glob.empty()) {
    sql += " AND path GLOB ?";
    params.emplace_back(f.path_glob);
  }
  if (f.since_us) {
    sql += " AND time_us >= ?";
    params.emplace_back(*f.since_us);
  }
  if (f.group_id) {
    sql += " AND group_id = ?";
    params.emplace_back(*f.group_id);
  }
  sql += " ORDER BY id DESC LIMIT ?";
  params.emplace_back(f.limit == 0 ? std::int64_t{-1} : static_cast<std::int64_t>(f.limit));  // 0: no limit

  sqlite::statement s(impl_->db, sql);
  for (std::size_t i = 0; i < params.size(); ++i) {
    int index = static_cast<int>(i) + 1;
    if (auto* n = std::get_if<std::int64_t>(&params[i])) {
      s.bind_int64(index, *n);
    } else {
      s.bind_text(index, std::get<std::string>(params[i]));
    }
  }
  std::vector<capture_summary> rows;
  while (s.step()) rows.push_back(summary_row(s));
  return rows;
}

std::vector<group_summary> reader::groups(std::size_t limit) {
  sqlite::statement s(impl_->db,
                      "SELECT id, fingerprint, method, route, status, upstream_error_kind, count, first_seen_us, "
                      "last_seen_us FROM groups ORDER BY last_seen_us DESC LIMIT ?");
  s.bind_int64(1, limit == 0 ? -1 : static_cast<std::int64_t>(limit));  // 0: no limit
  std::vector<group_summary> rows;
  while (s.step()) {
    group_summary g;
    g.id = s.column_int64(0);
    g.fingerprint = s.column_text(1);
    g.method = s.column_text(2);
    g.route = s.column_text(3);
    g.status = static_cast<int>(s.column_int64(4));
    g.upstream_error_kind = s.column_text(5);
    g.count = static_cast<std::uint64_t>(s.column_int64(6));
    g.first_seen_us = s.column_int64(7);
    g.last_seen_us = s.column_int64(8);
    rows.push_back(std::move(g));
  }
  return rows;
}

std::optional<stored_capture> reader::get(std::int64_t id) {
  sqlite::statement s(impl_->db,
                      "SELECT c.id, time_us, client, scheme, host, method, target, version, status, reason, "
                      "duration_ms, upstream_ms, upstream_error_kind, upstream_error, app_restarted, "
                      "captured_because, group_id, replayable, request_body_size, request_body_truncated, "
                      "request_complete, response_body_size, response_body_truncated, redacted, "
                      "request_headers, request_body, response_headers, response_body "
                      "FROM captures c JOIN capture_bodies b ON b.id = c.id WHERE c.id = ?");
  s.bind_int64(1, id);
  if (!s.step()) return std::nullopt;
  stored_capture c;
  int i = 0;
  c.id = s.column_int64(i++);
  c.time_us = s.column_int64(i++);
  c.client = s.column_text(i++);
  c.scheme = s.column_text(i++);
  c.host = s.column_text(i++);
  c.method = s.column_text(i++);
  c.target = s.column_text(i++);
  c.version = static_cast<int>(s.column_int64(i++));
  c.status = static_cast<int>(s.column_int64(i++));
  c.reason = s.column_text(i++);
  c.duration_ms = s.column_double(i++);
  c.upstream_ms = s.column_double(i++);
  c.upstream_error_kind = s.column_text(i++);
  c.upstream_error = s.column_text(i++);
  c.app_restarted = s.column_int64(i++) != 0;
  c.captured_because = s.column_text(i++);
  c.group_id = s.column_int64(i++);
  c.replayable = s.column_int64(i++) != 0;
  c.request_body_size = static_cast<std::uint64_t>(s.column_int64(i++));
  c.request_body_truncated = s.column_int64(i++) != 0;
  c.request_complete = s.column_int64(i++) != 0;
  c.response_body_size = static_cast<std::uint64_t>(s.column_int64(i++));
  c.response_body_truncated = s.column_int64(i++) != 0;
  c.redacted = parse_redacted(s.column_text(i++));
  c.request_headers = s.column_blob(i++);
  c.request_body = s.column_blob(i++);
  c.response_headers = s.column_blob(i++);
  c.response_body = s.column_blob(i++);
  return c;
}

store_summary reader::summary() {
  auto& db = impl_->db;
  store_summary out;
  {
    // One snapshot, so the numbers agree with each other while the writer goes on.
    sqlite::transaction snapshot(db, sqlite::transaction::kind::deferred);
    out.schema_version = static_cast<int>(db.pragma_int("user_version"));
    sqlite::statement totals(db, "SELECT rows, bytes FROM totals");
    totals.step();
    out.rows = static_cast<std::uint64_t>(totals.column_int64(0));
    out.bytes = static_cast<std::uint64_t>(totals.column_int64(1));
    totals.reset();

    sqlite::statement groups(db, "SELECT count(*) FROM groups");
    groups.step();
    out.groups = static_cast<std::uint64_t>(groups.column_int64(0));
    groups.reset();

    // Two statements: SQLite answers a lone min() or max() from the index, not both at once.
    for (auto [sql, field] : {std::pair{"SELECT min(time_us) FROM captures", &out.oldest_us},
                              std::pair{"SELECT max(time_us) FROM captures", &out.newest_us}}) {
      sqlite::statement s(db, sql);
      if (s.step() && !s.is_null(0)) *field = s.column_int64(0);
    }

    std::array<std::uint64_t, static_cast<std::size_t>(drop_reason::count_)> dropped{};
    sqlite::statement counters(db, "SELECT name, value FROM counters");
    while (counters.step()) {
      auto name = counters.column_text(0);
      auto value = static_cast<std::uint64_t>(counters.column_int64(1));
      if (name == "stored") out.stored_total = value;
      for (std::size_t r = 0; r < dropped.size(); ++r) {
        if (name == "dropped_" + std::string(to_string(drop_reason(r)))) dropped[r] = value;
      }
    }
    // Every reason, in the enum's order, zeros included: a status report lists them all.
    for (std::size_t r = 0; r < dropped.size(); ++r) {
      out.dropped_total.emplace_back(std::string(to_string(drop_reason(r))), dropped[r]);
    }
    snapshot.commit();
  }
  out.file_bytes = file_size_or_zero(impl_->path) + file_size_or_zero(impl_->path.string() + "-wal");
  return out;
}

std::optional<retention> reader::recorded_retention() {
  sqlite::statement s(impl_->db, "SELECT name, value FROM counters WHERE name IN ('retain_rows', 'retain_bytes', "
                                 "'retain_seconds')");
  retention keep;
  int found = 0;
  while (s.step()) {
    auto name = s.column_text(0);
    auto value = s.column_int64(1);
    if (value < 0) continue;
    ++found;
    if (name == "retain_rows") keep.rows = static_cast<std::uint64_t>(value);
    if (name == "retain_bytes") keep.bytes = static_cast<std::uint64_t>(value);
    if (name == "retain_seconds") keep.age = std::chrono::seconds(value);
  }
  if (found != 3) return std::nullopt;
  return keep;
}

std::uint64_t reader::prune(const retention& keep) {
  impl_->require_writable();
  return explaining_full(impl_->path, [&] {
    std::uint64_t deleted = 0;
    for (;;) {
      auto n = delete_oldest(impl_->db, keep, now_us(), rows_per_transaction);
      if (n == 0) break;
      deleted += n;
    }
    impl_->release_all_free_pages();
    return deleted;
  });
}

std::uint64_t reader::prune_all() {
  impl_->require_writable();
  return explaining_full(impl_->path, [&] { return prune_all_steps(); });
}

std::uint64_t reader::prune_all_steps() {
  auto& db = impl_->db;
  std::uint64_t deleted = 0;
  for (;;) {
    auto n = delete_first_captures(db, rows_per_transaction);
    if (n == 0) break;
    deleted += n;
  }
  {
    // What the writer stored meanwhile goes with the groups, so no capture is left
    // pointing at a deleted group. The counters stay: they count over the file's life.
    sqlite::transaction t(db);
    db.exec("DELETE FROM captures");
    deleted += static_cast<std::uint64_t>(db.changes());
    db.exec("DELETE FROM groups");
    t.commit();
  }
  impl_->release_all_free_pages();
  return deleted;
}

void reader::impl::release_all_free_pages() {
  while (release_free_pages(db, pages_per_vacuum) > 0) {
  }
  // Move the WAL's pages into the file and empty it, so the file shrinks now and a
  // status run right after shows the space back.
  db.pragma("wal_checkpoint", "TRUNCATE");
}

}  // namespace hindsight::store
