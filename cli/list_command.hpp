#pragma once
// `hindsight list`: the captures, newest first, or their groups (--groups).
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "store/queries.hpp"

namespace hindsight::cli {

struct list_options {
  std::string data;
  std::string status, method, path, since, group;
  std::size_t limit = 50;
  bool groups = false, json = false;
};

void add_list_command(CLI::App& app, list_options& options);
int list(const list_options& options);

// The store's filter from the options (limit as given), `now_us` anchoring --since.
// Throws usage_error for a value it cannot read.
store::list_filter list_filter_from(const list_options& options, std::int64_t now_us);

// The same filter applied to groups, which the store lists unfiltered: status or status
// range, method, --path as a glob on the route, --since on the last capture, --group.
std::vector<store::group_summary> filter_groups(std::vector<store::group_summary> groups, const store::list_filter& f);

}  // namespace hindsight::cli
