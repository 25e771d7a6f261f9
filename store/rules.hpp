#pragma once
// The rules table (`hindsight rules`): what the CLI adds and removes, and what the
// running proxy loads. Every change but a hit count bumps the `rules_version` counter
// (triggers of migration 3), so a proxy notices a change by reading one row.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/rule.hpp"
#include "store/sqlite.hpp"

namespace hindsight::store {

// Inserts the rule and returns its id. Throws store::error when the name is taken,
// naming the rule that has it. The database must have been readied by
// prepare_for_writing.
std::int64_t insert_rule(sqlite::database& db, const rule_record& r);

// Every rule, by id.
std::vector<rule_record> list_rules(sqlite::database& db);

// The rule named `name_or_id`, or whose id it is (a name is looked for first).
std::optional<rule_record> find_rule(sqlite::database& db, std::string_view name_or_id);

// false when no rule has this id.
bool delete_rule(sqlite::database& db, std::int64_t id);
bool set_rule_enabled(sqlite::database& db, std::int64_t id, bool enabled);

// Adds hit counts (rule id, hits since the last call), in one transaction. Ids of
// rules deleted meanwhile are skipped. Does not change rules_version.
void add_rule_hits(sqlite::database& db, const std::vector<std::pair<std::int64_t, std::uint64_t>>& hits);

// Changes whenever a rule is added, removed or changed (not when hits are counted).
std::int64_t rules_version(sqlite::database& db);

// "<action>-<n>" with the smallest n no rule is named yet ("post-mortem-1", "capture-3").
std::string unused_rule_name(sqlite::database& db, std::string_view action);

}  // namespace hindsight::store
