#include "store/replays.hpp"

#include "store/schema.hpp"

namespace hindsight::store {
namespace {

// The schema that added each column: a reader of an older file selects NULL instead.
constexpr int transcript_schema = 4;

std::string select_columns(sqlite::database& db) {
  std::string columns =
      "id, capture_id, time_us, mode, app_spec, status, exception_json, result_json, body, duration_ms, outcome, error";
  // "trigger" is an SQL keyword: quoted wherever it names the column.
  columns += schema_version(db) >= transcript_schema ? ", transcript, \"trigger\"" : ", NULL, NULL";
  return columns;
}

replay_record row(const sqlite::statement& s) {
  replay_record r;
  r.id = s.column_int64(0);
  r.capture_id = s.column_int64(1);
  r.time_us = s.column_int64(2);
  r.mode = s.column_text(3);
  r.app_spec = s.column_text(4);
  if (!s.is_null(5)) r.status = static_cast<int>(s.column_int64(5));
  if (!s.is_null(6)) r.exception_json = s.column_text(6);
  if (!s.is_null(7)) r.result_json = s.column_text(7);
  r.body = s.column_blob(8);
  r.duration_ms = s.column_double(9);
  r.outcome = s.column_text(10);
  r.error = s.column_text(11);
  if (!s.is_null(12)) r.transcript = s.column_blob(12);
  if (!s.is_null(13)) r.trigger = s.column_text(13);
  return r;
}

}  // namespace

std::int64_t insert_replay(sqlite::database& db, const replay_record& r) {
  sqlite::statement s(db,
                      "INSERT INTO replays (capture_id, time_us, mode, app_spec, status, exception_json, result_json, "
                      "body, duration_ms, outcome, error, transcript, \"trigger\") "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  s.bind_int64(1, r.capture_id);
  s.bind_int64(2, r.time_us);
  s.bind_text(3, r.mode);
  s.bind_text(4, r.app_spec);
  if (r.status) s.bind_int64(5, *r.status); else s.bind_null(5);
  if (!r.exception_json.empty()) s.bind_text(6, r.exception_json); else s.bind_null(6);
  if (!r.result_json.empty()) s.bind_text(7, r.result_json); else s.bind_null(7);
  s.bind_blob(8, r.body);
  s.bind_double(9, r.duration_ms);
  s.bind_text(10, r.outcome);
  s.bind_text(11, r.error);
  if (!r.transcript.empty()) s.bind_blob(12, r.transcript); else s.bind_null(12);
  if (!r.trigger.empty()) s.bind_text(13, r.trigger); else s.bind_null(13);
  s.run();
  return db.last_insert_rowid();
}

std::optional<replay_record> get_replay(sqlite::database& db, std::int64_t id) {
  sqlite::statement s(db, "SELECT " + select_columns(db) + " FROM replays WHERE id = ?");
  s.bind_int64(1, id);
  if (!s.step()) return std::nullopt;
  return row(s);
}

std::vector<replay_record> list_replays(sqlite::database& db, std::int64_t capture_id, std::size_t limit) {
  sqlite::statement s(db, "SELECT " + select_columns(db) + " FROM replays WHERE ? = 0 OR capture_id = ? " +
                              "ORDER BY id DESC LIMIT ?");
  s.bind_int64(1, capture_id);
  s.bind_int64(2, capture_id);
  s.bind_int64(3, limit == 0 ? -1 : static_cast<std::int64_t>(limit));
  std::vector<replay_record> out;
  while (s.step()) out.push_back(row(s));
  return out;
}

}  // namespace hindsight::store
