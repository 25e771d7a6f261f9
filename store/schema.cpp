#include "store/schema.hpp"

#include <array>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace hindsight::store {
namespace {

// Migration i takes a database from schema version i to i + 1. Append only: a released
// migration is never edited, since files out there have already run it.
constexpr std::array<std::string_view, 4> migrations = {
    // 1: captures, their bodies, groups, totals and counters.
    R"sql(
-- AUTOINCREMENT: an id is never given twice, so "show 42" never silently names another
-- capture after a prune emptied the table.
CREATE TABLE groups (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  fingerprint TEXT NOT NULL UNIQUE,
  method TEXT NOT NULL,
  route TEXT NOT NULL,
  status INTEGER NOT NULL,
  upstream_error_kind TEXT NOT NULL,
  count INTEGER NOT NULL,              -- every capture put in the group, deleted ones too
  first_seen_us INTEGER NOT NULL,
  last_seen_us INTEGER NOT NULL
);
CREATE INDEX groups_by_last_seen ON groups (last_seen_us);

-- What lists and filters read. The headers and bodies live in capture_bodies, so a scan
-- of this table (a filtered list, retention) reads a few hundred bytes a row instead of
-- pages of body bytes.
CREATE TABLE captures (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time_us INTEGER NOT NULL,
  client TEXT NOT NULL,
  scheme TEXT NOT NULL,
  host TEXT NOT NULL,
  method TEXT NOT NULL,
  target TEXT NOT NULL,                -- raw request-target, redacted
  path TEXT NOT NULL,                  -- target without its query, for GLOB
  version INTEGER NOT NULL,
  status INTEGER NOT NULL,
  reason TEXT NOT NULL,
  duration_ms REAL NOT NULL,
  upstream_ms REAL NOT NULL,
  upstream_error_kind TEXT NOT NULL,
  upstream_error TEXT NOT NULL,
  app_restarted INTEGER NOT NULL,
  captured_because TEXT NOT NULL,
  group_id INTEGER NOT NULL,
  replayable INTEGER NOT NULL,
  request_body_size INTEGER NOT NULL,
  request_body_truncated INTEGER NOT NULL,
  request_complete INTEGER NOT NULL,
  response_body_size INTEGER NOT NULL,
  response_body_truncated INTEGER NOT NULL,
  redacted TEXT NOT NULL,              -- JSON array of what was scrubbed
  size INTEGER NOT NULL                -- bytes the capture accounts for, bodies included
);
CREATE INDEX captures_by_time ON captures (time_us);
-- Entries of a rowid table's index end with the rowid, so this also serves
-- WHERE group_id = ? ORDER BY id DESC.
CREATE INDEX captures_by_group ON captures (group_id);

CREATE TABLE capture_bodies (
  id INTEGER PRIMARY KEY,              -- captures.id
  request_headers BLOB NOT NULL,
  request_body BLOB NOT NULL,
  response_headers BLOB NOT NULL,
  response_body BLOB NOT NULL
);

-- Kept by triggers, so that every process reads consistent counts without a scan.
CREATE TABLE totals (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  rows INTEGER NOT NULL,
  bytes INTEGER NOT NULL
);
INSERT INTO totals VALUES (1, 0, 0);

CREATE TRIGGER captures_inserted AFTER INSERT ON captures BEGIN
  UPDATE totals SET rows = rows + 1, bytes = bytes + NEW.size;
END;
CREATE TRIGGER captures_deleted AFTER DELETE ON captures BEGIN
  UPDATE totals SET rows = rows - 1, bytes = bytes - OLD.size;
  DELETE FROM capture_bodies WHERE id = OLD.id;
END;

-- Totals over the file's life: stored, dropped_<reason>.
CREATE TABLE counters (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
    // 2: replays of captures (`hindsight replay`), one row per attempt.
    R"sql(
CREATE TABLE replays (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  capture_id INTEGER NOT NULL,
  time_us INTEGER NOT NULL,
  mode TEXT NOT NULL,                  -- run, pdb, break, post_mortem
  app_spec TEXT NOT NULL,
  status INTEGER,                      -- the app's status; NULL when it gave none
  exception_json TEXT,                 -- the traceback model, NULL when nothing was raised
  result_json TEXT,                    -- the worker's whole response header, NULL without one
  body BLOB NOT NULL,                  -- the response body as far as the worker returned it
  duration_ms REAL NOT NULL,
  outcome TEXT NOT NULL CHECK (outcome IN ('completed', 'timeout', 'crashed', 'error')),
  error TEXT NOT NULL                  -- why it did not complete; '' when it did
);
CREATE INDEX replays_by_capture ON replays (capture_id);

-- A capture's replays go with it (retention, prune).
CREATE TRIGGER captures_deleted_replays AFTER DELETE ON captures BEGIN
  DELETE FROM replays WHERE capture_id = OLD.id;
END;
)sql",
    // 3: trigger rules (`hindsight rules`), and the counter the proxy polls to notice changes.
    R"sql(
CREATE TABLE rules (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  enabled INTEGER NOT NULL,
  method TEXT NOT NULL,                -- match fields as the user wrote them; '' matches anything
  path TEXT NOT NULL,
  query TEXT NOT NULL,
  header TEXT NOT NULL,
  cookie TEXT NOT NULL,
  client TEXT NOT NULL,
  action TEXT NOT NULL CHECK (action IN ('capture', 'traceback', 'pdb', 'break', 'post-mortem')),
  action_arg TEXT NOT NULL,            -- break: FILE:LINE[:COND]
  hits INTEGER NOT NULL,               -- flushed by the proxy in batches
  max_hits INTEGER,                    -- NULL: no limit
  expires_us INTEGER,                  -- NULL: never
  created_us INTEGER NOT NULL
);

-- A running proxy reads this one row a few times a second and reloads the rules when it
-- changed. Hit counts are left out, so the proxy's own flushes do not make it reload.
INSERT OR IGNORE INTO counters VALUES ('rules_version', 0);
CREATE TRIGGER rules_inserted AFTER INSERT ON rules BEGIN
  UPDATE counters SET value = value + 1 WHERE name = 'rules_version';
END;
CREATE TRIGGER rules_deleted AFTER DELETE ON rules BEGIN
  UPDATE counters SET value = value + 1 WHERE name = 'rules_version';
END;
CREATE TRIGGER rules_changed AFTER UPDATE OF name, enabled, method, path, query, header, cookie, client, action,
    action_arg, max_hits, expires_us ON rules BEGIN
  UPDATE counters SET value = value + 1 WHERE name = 'rules_version';
END;
)sql",
    // 4: live debug sessions (`hindsight attach`) stored with the capture of the request
    // they ran, as replays with what the terminal showed and the rule that sent them.
    R"sql(
ALTER TABLE replays ADD COLUMN transcript BLOB;  -- the session's terminal, output and echo; NULL without one
ALTER TABLE replays ADD COLUMN "trigger" TEXT;   -- the rule that sent a live request; NULL for hindsight replay
)sql",
};

// One retention transaction frees at most this much, so that the capture batch
// waiting behind it is not held up for long by the deletion of large bodies.
constexpr std::uint64_t max_bytes_per_deletion = 16 << 20;

// One step of deleting captures, inside the caller's transaction: at most `max_rows`
// rows and max_bytes_per_deletion bytes, then the groups the deleted rows leave empty.
class bounded_deletion {
 public:
  bounded_deletion(sqlite::database& db, std::size_t max_rows)
      : db_(db), max_rows_(max_rows), remove_(db, "DELETE FROM captures WHERE id = ? RETURNING group_id, size") {}

  std::int64_t rows_left() const { return static_cast<std::int64_t>(max_rows_ - deleted_); }

  // Deletes the rows `select` yields as (id, size), in its order, while the budget lasts
  // and wanted(rows taken, bytes taken) from this select holds.
  template <class Wanted>
  void take(sqlite::statement& select, Wanted wanted) {
    std::vector<std::int64_t> ids;  // collected first: no deleting under a running SELECT
    std::uint64_t rows = 0, bytes = 0;
    while (deleted_ + rows < max_rows_ && bytes_freed_ + bytes < max_bytes_per_deletion && wanted(rows, bytes) &&
           select.step()) {
      ids.push_back(select.column_int64(0));
      ++rows;
      bytes += static_cast<std::uint64_t>(select.column_int64(1));
    }
    select.reset();
    for (auto id : ids) {
      remove_.bind_int64(1, id);
      if (remove_.step()) {
        groups_touched_.insert(remove_.column_int64(0));
        bytes_freed_ += static_cast<std::uint64_t>(remove_.column_int64(1));
        ++deleted_;
      }
      remove_.reset();
    }
  }

  // Returns the rows deleted.
  std::uint64_t finish() {
    if (groups_touched_.empty()) return deleted_;
    sqlite::statement drop_if_empty(
        db_, "DELETE FROM groups WHERE id = ? AND NOT EXISTS (SELECT 1 FROM captures WHERE group_id = groups.id)");
    for (auto id : groups_touched_) {
      drop_if_empty.bind_int64(1, id);
      drop_if_empty.run();
    }
    return deleted_;
  }

 private:
  sqlite::database& db_;
  std::size_t max_rows_;
  sqlite::statement remove_;
  std::set<std::int64_t> groups_touched_;
  std::uint64_t deleted_ = 0, bytes_freed_ = 0;
};

// Whether any capture is beyond `keep`: older than the cutoff, or over the rows or bytes.
bool beyond_retention(sqlite::database& db, const retention& keep, std::int64_t cutoff_us) {
  if (keep.age.count() > 0) {
    sqlite::statement old(db, "SELECT 1 FROM captures WHERE time_us < ? LIMIT 1");
    old.bind_int64(1, cutoff_us);
    if (old.step()) return true;
  }
  if (keep.rows == 0 && keep.bytes == 0) return false;
  sqlite::statement totals(db, "SELECT rows, bytes FROM totals");
  totals.step();
  auto rows = static_cast<std::uint64_t>(totals.column_int64(0));
  auto bytes = static_cast<std::uint64_t>(totals.column_int64(1));
  return (keep.rows > 0 && rows > keep.rows) || (keep.bytes > 0 && bytes > keep.bytes);
}

bool has_tables(sqlite::database& db) {
  sqlite::statement s(db, "SELECT count(*) FROM sqlite_schema");
  s.step();
  return s.column_int64(0) > 0;
}

}  // namespace

int known_schema_version() { return static_cast<int>(migrations.size()); }

int schema_version(sqlite::database& db) {
  auto version = static_cast<int>(db.pragma_int("user_version"));
  if (version > known_schema_version()) {
    throw error("the database '" + db.path() + "' was written by a newer hindsight (schema " +
                std::to_string(version) + ", this build knows " + std::to_string(known_schema_version()) +
                "): upgrade hindsight or use another --data directory");
  }
  return version;
}

void prepare_for_writing(sqlite::database& db) {
  int version = schema_version(db);  // refuse a newer file before changing anything in it
  if (!has_tables(db)) db.pragma("auto_vacuum", "INCREMENTAL");
  std::string mode = db.pragma("journal_mode", "WAL");
  // A :memory: database stays "memory"; anything else means WAL is unavailable here and
  // every reader would block the writer.
  if (mode != "wal" && mode != "memory") {
    throw error("cannot put the database '" + db.path() + "' in WAL mode (it stays in " + mode +
                " mode): keep the --data directory on a local file system");
  }
  db.pragma("synchronous", "NORMAL");
  // Not a build's SQLITE_SECURE_DELETE (Debian's): zeroing every freed page would write a
  // deletion's whole size to the WAL, so deleting could fail on a nearly full disk.
  db.pragma("secure_delete", "FAST");

  for (; version < known_schema_version(); ++version) {
    sqlite::transaction t(db);
    // Another process may have migrated while this one waited for the write lock.
    if (schema_version(db) > version) continue;
    db.exec(migrations[version]);
    db.pragma("user_version", std::to_string(version + 1));
    t.commit();
  }
}

std::uint64_t delete_oldest(sqlite::database& db, const retention& keep, std::int64_t now_us, std::size_t max_rows,
                            bool* beyond) {
  sqlite::transaction t(db);
  bounded_deletion deletion(db, max_rows);
  const std::int64_t cutoff_us = now_us - std::chrono::duration_cast<std::chrono::microseconds>(keep.age).count();
  if (keep.age.count() > 0) {
    sqlite::statement old(db, "SELECT id, size FROM captures WHERE time_us < ? ORDER BY time_us LIMIT ?");
    old.bind_int64(1, cutoff_us);
    old.bind_int64(2, deletion.rows_left());
    deletion.take(old, [](std::uint64_t, std::uint64_t) { return true; });
  }
  if (keep.rows > 0 || keep.bytes > 0) {
    sqlite::statement totals(db, "SELECT rows, bytes FROM totals");
    totals.step();
    auto rows = static_cast<std::uint64_t>(totals.column_int64(0));
    auto bytes = static_cast<std::uint64_t>(totals.column_int64(1));
    totals.reset();
    std::uint64_t excess_rows = keep.rows > 0 && rows > keep.rows ? rows - keep.rows : 0;
    std::uint64_t excess_bytes = keep.bytes > 0 && bytes > keep.bytes ? bytes - keep.bytes : 0;
    if (excess_rows > 0 || excess_bytes > 0) {
      sqlite::statement oldest(db, "SELECT id, size FROM captures ORDER BY id LIMIT ?");
      oldest.bind_int64(1, deletion.rows_left());
      deletion.take(oldest, [&](std::uint64_t rows_taken, std::uint64_t bytes_taken) {
        return rows_taken < excess_rows || bytes_taken < excess_bytes;
      });
    }
  }
  auto deleted = deletion.finish();
  if (beyond) *beyond = beyond_retention(db, keep, cutoff_us);
  t.commit();
  return deleted;
}

std::uint64_t delete_first_captures(sqlite::database& db, std::size_t max_rows) {
  sqlite::transaction t(db);
  bounded_deletion deletion(db, max_rows);
  sqlite::statement oldest(db, "SELECT id, size FROM captures ORDER BY id LIMIT ?");
  oldest.bind_int64(1, deletion.rows_left());
  deletion.take(oldest, [](std::uint64_t, std::uint64_t) { return true; });
  auto deleted = deletion.finish();
  t.commit();
  return deleted;
}

std::int64_t release_free_pages(sqlite::database& db, std::int64_t max_pages) {
  if (db.pragma_int("freelist_count") == 0) return 0;
  db.exec("PRAGMA incremental_vacuum(" + std::to_string(max_pages) + ")");
  return db.pragma_int("freelist_count");
}

}  // namespace hindsight::store
