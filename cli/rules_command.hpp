#pragma once
// `hindsight rules add|list|rm|enable|disable|test`: the trigger rules in the store,
// which a running proxy applies within a second (cli/rule_watcher).
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace hindsight::cli {

struct rules_options {
  std::string which;  // the subcommand given
  std::string data;
  bool json = false;
  // add
  std::string name, method, path, query, header, cookie, client, action, ttl;
  std::uint64_t max_hits = 0;
  // rm, enable, disable
  std::string rule;
  // test
  std::string subject;  // a capture id or a URL
  std::vector<std::string> headers;
  std::string test_method = "GET", test_client, token;
};

void add_rules_command(CLI::App& app, rules_options& options);
int rules(const rules_options& options);

}  // namespace hindsight::cli
