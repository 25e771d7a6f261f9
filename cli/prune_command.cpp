#include "cli/prune_command.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>

#include "cli/control_client.hpp"
#include "cli/store_options.hpp"
#include "store/queries.hpp"

namespace hindsight::cli {
namespace json = boost::json;

store::retention retention_from(const prune_options& o, const json::object* reply) {
  return retention_from(o, retention_from_reply(reply));
}

store::retention retention_from(const prune_options& o, store::retention keep) {

  if (!o.retain_rows.empty()) {
    std::uint64_t rows = 0;
    auto [end, ec] = std::from_chars(o.retain_rows.data(), o.retain_rows.data() + o.retain_rows.size(), rows);
    if (ec != std::errc{} || end != o.retain_rows.data() + o.retain_rows.size())
      throw usage_error("invalid --retain-rows '" + o.retain_rows + "': expected a number of captures (0: no limit)");
    keep.rows = rows;
  }
  if (!o.retain_bytes.empty()) keep.bytes = size_option("--retain-bytes", o.retain_bytes);
  if (!o.retain_days.empty()) {
    double days = 0;
    auto [end, ec] = std::from_chars(o.retain_days.data(), o.retain_days.data() + o.retain_days.size(), days);
    if (ec != std::errc{} || end != o.retain_days.data() + o.retain_days.size() || !(days >= 0) || days > 1e6)
      throw usage_error("invalid --retain-days '" + o.retain_days + "': expected a number of days such as 14 or 0.5 (0: no limit)");
    keep.age = std::chrono::seconds(std::llround(days * 86'400));
  }
  return keep;
}

void add_prune_command(CLI::App& app, prune_options& o) {
  auto* cmd = app.add_subcommand("prune", "Delete the oldest captures beyond retention now, or all of them with --all");
  add_data_option(*cmd, o.data);
  auto* rows = cmd->add_option("--retain-rows", o.retain_rows, "Keep at most this many captures (0: no limit)");
  auto* bytes = cmd->add_option("--retain-bytes", o.retain_bytes, "Keep at most this much capture data: 1GiB, 500MB, … (0: no limit)");
  auto* days = cmd->add_option("--retain-days", o.retain_days, "Keep captures at most this many days old (0: no limit)");
  auto* all = cmd->add_flag("--all", o.all, "Delete every capture and group");
  all->excludes(rows)->excludes(bytes)->excludes(days);
  cmd->footer(
      "Without --retain-* options, the retention of the proxy running on this data directory applies,\n"
      "else the one the last proxy there recorded in the database, else the defaults (100000 rows,\n"
      "1 GiB, 14 days); each option given replaces its part.");
}

int prune(const prune_options& o) {
  return run_command([&]() -> int {
    // Read the values before anything else: a bad one is a usage error.
    retention_from(o, nullptr);
    auto where = locate_store(o.data);
    const std::string dir = where.data.string();
    if (!where.database_exists()) {
      std::printf("nothing to prune: no captures yet in %s\n", dir.c_str());
      return 0;
    }
    store::reader reader(where.database, /*writable=*/true);
    if (o.all) {
      auto deleted = reader.prune_all();
      auto after = reader.summary();
      std::printf("deleted all %llu capture%s from %s; the database file is now %s\n", static_cast<unsigned long long>(deleted),
                  deleted == 1 ? "" : "s", where.database.c_str(), rounded_size_text(after.file_bytes).c_str());
      return 0;
    }
    bool any_option = !o.retain_rows.empty() || !o.retain_bytes.empty() || !o.retain_days.empty();
    bool all_options = !o.retain_rows.empty() && !o.retain_bytes.empty() && !o.retain_days.empty();
    control_answer proxy;
    if (!all_options) proxy = ask_proxy(where.control, "status");
    bool from_proxy = proxy.status == control_answer::state::running;
    // The defaults may keep far less than a running proxy was told to: never guess.
    if (!all_options && (proxy.status == control_answer::state::unreachable ||
                         (from_proxy && !proxy.reply.if_contains("retention"))))
      throw std::runtime_error("cannot learn the retention of the proxy running on " + dir + " (" +
                               (proxy.problem.empty() ? std::string("its reply has no retention") : proxy.problem) +
                               "): pass --retain-rows, --retain-bytes and --retain-days");
    std::optional<store::retention> recorded;
    if (!all_options && !from_proxy) recorded = reader.recorded_retention();
    auto keep = from_proxy ? retention_from(o, &proxy.reply)
                : recorded ? retention_from(o, *recorded)
                           : retention_from(o, store::retention{});
    std::string source = all_options ? "as given"
                         : from_proxy ? "the running proxy's"
                         : recorded   ? "recorded by the last proxy on this data directory; none runs now"
                                      : "the built-in defaults: no proxy runs on this data directory and none recorded "
                                        "its retention; pass --retain-rows, --retain-bytes and --retain-days to choose";
    if (any_option && !all_options) source += ", with the options given";
    auto deleted = reader.prune(keep);
    auto after = reader.summary();
    std::printf("pruned %llu capture%s from %s\n", static_cast<unsigned long long>(deleted), deleted == 1 ? "" : "s",
                where.database.c_str());
    std::printf("  retention  %s (%s)\n", retention_text(keep).c_str(), source.c_str());
    std::printf("  remaining  %llu capture%s (%s); the database file is %s\n", static_cast<unsigned long long>(after.rows),
                after.rows == 1 ? "" : "s",
                rounded_size_text(after.bytes).c_str(), rounded_size_text(after.file_bytes).c_str());
    return 0;
  });
}

}  // namespace hindsight::cli
