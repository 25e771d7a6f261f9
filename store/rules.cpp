#include "store/rules.hpp"

#include <sqlite3.h>

#include <charconv>

namespace hindsight::store {
namespace {

constexpr std::string_view columns =
    "id, name, enabled, method, path, query, header, cookie, client, action, action_arg, hits, max_hits, "
    "expires_us, created_us";

rule_record row(const sqlite::statement& s) {
  rule_record r;
  r.id = s.column_int64(0);
  r.name = s.column_text(1);
  r.enabled = s.column_int64(2) != 0;
  r.method = s.column_text(3);
  r.path = s.column_text(4);
  r.query = s.column_text(5);
  r.header = s.column_text(6);
  r.cookie = s.column_text(7);
  r.client = s.column_text(8);
  r.action = s.column_text(9);
  r.action_arg = s.column_text(10);
  r.hits = static_cast<std::uint64_t>(s.column_int64(11));
  if (!s.is_null(12)) r.max_hits = static_cast<std::uint64_t>(s.column_int64(12));
  if (!s.is_null(13)) r.expires_us = s.column_int64(13);
  r.created_us = s.column_int64(14);
  return r;
}

std::optional<rule_record> find_by(sqlite::database& db, std::string_view where, auto bind) {
  sqlite::statement s(db, "SELECT " + std::string(columns) + " FROM rules WHERE " + std::string(where));
  bind(s);
  if (!s.step()) return std::nullopt;
  return row(s);
}

}  // namespace

std::int64_t insert_rule(sqlite::database& db, const rule_record& r) {
  if (auto taken = find_by(db, "name = ?", [&](sqlite::statement& s) { s.bind_text(1, r.name); })) {
    throw error("a rule named '" + r.name + "' exists already (id " + std::to_string(taken->id) +
                "): choose another --name, or remove it first with `hindsight rules rm " + r.name + "`");
  }
  sqlite::statement s(db,
                      "INSERT INTO rules (name, enabled, method, path, query, header, cookie, client, action, "
                      "action_arg, hits, max_hits, expires_us, created_us) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  s.bind_text(1, r.name);
  s.bind_int64(2, r.enabled ? 1 : 0);
  s.bind_text(3, r.method);
  s.bind_text(4, r.path);
  s.bind_text(5, r.query);
  s.bind_text(6, r.header);
  s.bind_text(7, r.cookie);
  s.bind_text(8, r.client);
  s.bind_text(9, r.action);
  s.bind_text(10, r.action_arg);
  s.bind_int64(11, static_cast<std::int64_t>(r.hits));
  if (r.max_hits) s.bind_int64(12, static_cast<std::int64_t>(*r.max_hits));
  else s.bind_null(12);
  if (r.expires_us) s.bind_int64(13, *r.expires_us);
  else s.bind_null(13);
  s.bind_int64(14, r.created_us);
  s.run();
  return db.last_insert_rowid();
}

std::vector<rule_record> list_rules(sqlite::database& db) {
  sqlite::statement s(db, "SELECT " + std::string(columns) + " FROM rules ORDER BY id");
  std::vector<rule_record> out;
  while (s.step()) out.push_back(row(s));
  return out;
}

std::optional<rule_record> find_rule(sqlite::database& db, std::string_view name_or_id) {
  if (auto r = find_by(db, "name = ?", [&](sqlite::statement& s) { s.bind_text(1, name_or_id); })) return r;
  std::int64_t id = 0;
  auto [end, ec] = std::from_chars(name_or_id.data(), name_or_id.data() + name_or_id.size(), id);
  if (ec != std::errc{} || end != name_or_id.data() + name_or_id.size()) return std::nullopt;
  return find_by(db, "id = ?", [&](sqlite::statement& s) { s.bind_int64(1, id); });
}

bool delete_rule(sqlite::database& db, std::int64_t id) {
  sqlite::statement s(db, "DELETE FROM rules WHERE id = ?");
  s.bind_int64(1, id);
  s.run();
  return db.changes() > 0;
}

bool set_rule_enabled(sqlite::database& db, std::int64_t id, bool enabled) {
  sqlite::statement s(db, "UPDATE rules SET enabled = ? WHERE id = ?");
  s.bind_int64(1, enabled ? 1 : 0);
  s.bind_int64(2, id);
  s.run();
  return db.changes() > 0;
}

void add_rule_hits(sqlite::database& db, const std::vector<std::pair<std::int64_t, std::uint64_t>>& hits) {
  if (hits.empty()) return;
  sqlite::transaction t(db);
  sqlite::statement s(db, "UPDATE rules SET hits = hits + ? WHERE id = ?");
  for (auto [id, n] : hits) {
    s.bind_int64(1, static_cast<std::int64_t>(n));
    s.bind_int64(2, id);
    s.run();
  }
  t.commit();
}

std::int64_t rules_version(sqlite::database& db) {
  sqlite::statement s(db, "SELECT value FROM counters WHERE name = 'rules_version'");
  return s.step() ? s.column_int64(0) : 0;
}

std::string unused_rule_name(sqlite::database& db, std::string_view action) {
  sqlite::statement s(db, "SELECT 1 FROM rules WHERE name = ?");
  for (int n = 1;; ++n) {
    auto name = std::string(action) + "-" + std::to_string(n);
    s.bind_text(1, name);
    bool taken = s.step();
    s.reset();
    if (!taken) return name;
  }
}

}  // namespace hindsight::store
