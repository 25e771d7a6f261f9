#pragma once
// A trigger rule as the store keeps it: the match fields as the user wrote them (the
// proxy compiles them, proxy/rules.hpp), the action, and its bookkeeping. Schema:
// migration 3 in schema.cpp.
#include <cstdint>
#include <optional>
#include <string>

namespace hindsight::store {

struct rule_record {
  std::int64_t id = 0;
  std::string name;
  bool enabled = true;
  // Match fields; "" matches anything.
  std::string method;   // GET (compared case-insensitively)
  std::string path;     // glob (/ok/*), or re:REGEX
  std::string query;    // name, or name=value
  std::string header;   // name, name=value, or name=re:REGEX
  std::string cookie;   // name, or name=value
  std::string client;   // CIDR, v4 or v6: 10.0.0.0/8, 2001:db8::/32, 192.0.2.7
  std::string action;   // capture, traceback, pdb, break, post-mortem
  std::string action_arg;  // break: FILE:LINE[:COND]; "" otherwise
  std::uint64_t hits = 0;
  std::optional<std::uint64_t> max_hits;
  std::optional<std::int64_t> expires_us;  // µs since the epoch; none: never
  std::int64_t created_us = 0;
};

}  // namespace hindsight::store
