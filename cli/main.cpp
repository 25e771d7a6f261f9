// hindsight: debug a Python web app where it really runs, on the requests that really fail.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/run_command.hpp"

int main(int argc, char** argv) {
  CLI::App app{"hindsight — proxy, capture and replay failing requests of a Python web app", "hindsight"};
  app.set_version_flag("--version", std::string("hindsight ") + HINDSIGHT_VERSION);
  app.require_subcommand(1);

  hindsight::cli::run_options run;
  hindsight::cli::add_run_command(app, run);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Usage errors exit 2, as getopt-based tools do; CLI11's own codes are not stable.
    std::fprintf(stderr, "hindsight: error: %s\n", e.what());
    std::fprintf(stderr, "run 'hindsight --help' or 'hindsight run --help' for the options\n");
    return 2;
  }
  if (app.got_subcommand("run")) return hindsight::cli::run(run);
  return 2;
}
