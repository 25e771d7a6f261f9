// hindsight: debug a Python web app where it really runs, on the requests that really fail.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/attach_command.hpp"
#include "cli/export_command.hpp"
#include "cli/list_command.hpp"
#include "cli/prune_command.hpp"
#include "cli/replay_command.hpp"
#include "cli/rules_command.hpp"
#include "cli/run_command.hpp"
#include "cli/show_command.hpp"
#include "cli/status_command.hpp"
#include "cli/token_command.hpp"

int main(int argc, char** argv) {
  CLI::App app{"hindsight — proxy, capture and replay failing requests of a Python web app", "hindsight"};
  app.set_version_flag("--version", std::string("hindsight ") + HINDSIGHT_VERSION);
  app.require_subcommand(1);

  hindsight::cli::run_options run;
  hindsight::cli::add_run_command(app, run);
  hindsight::cli::list_options list;
  hindsight::cli::add_list_command(app, list);
  hindsight::cli::show_options show;
  hindsight::cli::add_show_command(app, show);
  hindsight::cli::status_options status;
  hindsight::cli::add_status_command(app, status);
  hindsight::cli::prune_options prune;
  hindsight::cli::add_prune_command(app, prune);
  hindsight::cli::replay_options replay;
  hindsight::cli::add_replay_command(app, replay);
  hindsight::cli::export_options export_;
  hindsight::cli::add_export_command(app, export_);
  hindsight::cli::rules_options rules;
  hindsight::cli::add_rules_command(app, rules);
  hindsight::cli::token_options token;
  hindsight::cli::add_token_command(app, token);
  hindsight::cli::attach_options attach;
  hindsight::cli::add_attach_command(app, attach);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Usage errors exit 2, as getopt-based tools do; CLI11's own codes are not stable.
    std::fprintf(stderr, "hindsight: error: %s\n", e.what());
    std::string help = "hindsight --help";
    for (const auto* sub : app.get_subcommands()) {
      help = "hindsight " + sub->get_name();
      for (const auto* inner : sub->get_subcommands()) help += " " + inner->get_name();
      help += " --help";
    }
    std::fprintf(stderr, "run '%s' for the options\n", help.c_str());
    return 2;
  }
  if (app.got_subcommand("run")) return hindsight::cli::run(run);
  if (app.got_subcommand("list")) return hindsight::cli::list(list);
  if (app.got_subcommand("show")) return hindsight::cli::show(show);
  if (app.got_subcommand("status")) return hindsight::cli::status(status);
  if (app.got_subcommand("prune")) return hindsight::cli::prune(prune);
  if (app.got_subcommand("replay")) return hindsight::cli::replay(replay);
  if (app.got_subcommand("export")) return hindsight::cli::export_capture(export_);
  if (app.got_subcommand("rules")) return hindsight::cli::rules(rules);
  if (app.got_subcommand("token")) return hindsight::cli::token(token);
  if (app.got_subcommand("attach")) return hindsight::cli::attach(attach);
  return 2;
}
