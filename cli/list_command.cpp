#include "cli/list_command.hpp"

#include <fnmatch.h>
#include <strings.h>

#include <boost/json.hpp>

#include <charconv>
#include <cstdio>

#include "cli/capture_view.hpp"
#include "cli/json_output.hpp"
#include "cli/store_options.hpp"
#include "cli/time_format.hpp"

namespace hindsight::cli {

namespace {

bool filtered(const list_options& o) {
  return !o.status.empty() || !o.method.empty() || !o.path.empty() || !o.since.empty() || !o.group.empty();
}

void print_json(const boost::json::array& a) { std::printf("%s\n", to_json_text(a).c_str()); }

}  // namespace

void add_list_command(CLI::App& app, list_options& o) {
  auto* cmd = app.add_subcommand("list", "List captured exchanges, newest first (or their groups with --groups)");
  add_data_option(*cmd, o.data);
  cmd->add_option("--status", o.status, "Statuses: 500, 500-599, 5xx, or a comma list (500-599,429)");
  cmd->add_option("--method", o.method, "Request method (any case)");
  cmd->add_option("--path", o.path, "Glob on the path without its query (/api/*); with --groups, on the route");
  cmd->add_option("--since", o.since, "Captured at or after: a duration back (10m, 1h, 2d) or a UTC time (2026-11-26T14:00)");
  cmd->add_option("--group", o.group, "Only captures of this group (see --groups)");
  cmd->add_option("--limit", o.limit, "At most this many rows (0: all)")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 40));
  cmd->add_flag("--groups", o.groups, "List groups of alike failures: count, first and last seen, route, status");
  cmd->add_flag("--json", o.json, "Print a JSON array (the fields are a stable interface)");
  cmd->footer(
      "Examples:\n"
      "  hindsight list --since 1h --status 5xx\n"
      "  hindsight list --method POST --path '/api/orders/*' --limit 10\n"
      "  hindsight list --groups");
}

store::list_filter list_filter_from(const list_options& o, std::int64_t now) {
  store::list_filter f;
  if (!o.status.empty()) f.statuses = parse_status_list(o.status);
  f.method = o.method;
  f.path_glob = o.path;
  if (!o.since.empty()) {
    try {
      f.since_us = parse_since(o.since, now);
    } catch (const std::invalid_argument& e) {
      throw usage_error(e.what());
    }
  }
  if (!o.group.empty()) {
    std::int64_t id = 0;
    auto [end, ec] = std::from_chars(o.group.data(), o.group.data() + o.group.size(), id);
    if (ec != std::errc{} || end != o.group.data() + o.group.size() || id <= 0)
      throw usage_error("invalid --group '" + o.group + "': expected a group id as `hindsight list --groups` shows it");
    f.group_id = id;
  }
  f.limit = o.limit;
  return f;
}

std::vector<store::group_summary> filter_groups(std::vector<store::group_summary> groups, const store::list_filter& f) {
  std::erase_if(groups, [&](const store::group_summary& g) {
    if (!f.statuses.empty()) {
      bool any = false;
      for (auto [lo, hi] : f.statuses) any = any || (g.status >= lo && g.status <= hi);
      if (!any) return true;
    }
    if (!f.method.empty() && ::strcasecmp(f.method.c_str(), g.method.c_str()) != 0) return true;
    // fnmatch without FNM_PATHNAME: '*' crosses '/', as SQLite's GLOB does for captures.
    if (!f.path_glob.empty() && ::fnmatch(f.path_glob.c_str(), g.route.c_str(), 0) != 0) return true;
    if (f.since_us && g.last_seen_us < *f.since_us) return true;
    if (f.group_id && g.id != *f.group_id) return true;
    return false;
  });
  return groups;
}

int list(const list_options& o) {
  return run_command([&]() -> int {
    auto filter = list_filter_from(o, now_us());
    auto where = locate_store(o.data);
    // One row more than asked says whether there are more.
    const std::size_t unlimited = 0;  // the store's "no limit"
    const std::size_t fetch = o.limit == 0 ? unlimited : o.limit + 1;
    const std::string dir = where.data.string();

    if (!where.database_exists()) {
      if (o.json) print_json({});
      else std::printf("no captures yet in %s\n", dir.c_str());
      return 0;
    }
    store::reader reader(where.database);

    if (o.groups) {
      auto groups = filtered(o) ? filter_groups(reader.groups(unlimited), filter) : reader.groups(fetch);
      bool more = o.limit != 0 && groups.size() > o.limit;
      if (more) groups.resize(o.limit);
      if (o.json) {
        boost::json::array a;
        for (const auto& g : groups) a.push_back(group_to_json(g));
        print_json(a);
      } else if (groups.empty()) {
        if (filtered(o)) std::printf("no groups match the filters in %s\n", dir.c_str());
        else std::printf("no captures yet in %s\n", dir.c_str());
      } else {
        std::fputs(group_table(groups).c_str(), stdout);
        if (more) std::printf("(the %zu most recent groups; --limit N for more, --limit 0 for all)\n", o.limit);
      }
      return 0;
    }

    filter.limit = fetch;
    auto rows = reader.list(filter);
    bool more = o.limit != 0 && rows.size() > o.limit;
    if (more) rows.resize(o.limit);
    if (o.json) {
      boost::json::array a;
      for (const auto& r : rows) a.push_back(summary_to_json(r));
      print_json(a);
    } else if (rows.empty()) {
      auto stored = reader.summary().rows;
      if (stored == 0) std::printf("no captures yet in %s\n", dir.c_str());
      else std::printf("no captures match the filters (%llu stored in %s)\n", static_cast<unsigned long long>(stored), dir.c_str());
    } else {
      std::fputs(capture_table(rows).c_str(), stdout);
      if (more) std::printf("(the newest %zu shown; --limit N for more, --limit 0 for all)\n", o.limit);
    }
    return 0;
  });
}

}  // namespace hindsight::cli
