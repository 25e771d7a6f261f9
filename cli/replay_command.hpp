#pragma once
// `hindsight replay ID`: runs a captured request again in hindsight-worker (an embedded
// CPython importing the app), optionally under pdb, and shows the response and the
// traceback; or, with --upstream, sends it to the running app itself. --diff compares
// the new response with the captured one. Every attempt is stored in the replays table.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace hindsight::cli {

struct replay_options {
  std::string data;
  std::string id;
  std::string app, chdir, python;
  std::vector<std::string> pythonpath, breaks;
  bool pdb = false, post_mortem = false, commit = false, json = false;
  std::string timeout;  // "" for the default: 60s, 3600s when a debugger may stop
  std::string body_limit = "8KiB";
  bool upstream = false;         // --upstream given, with or without an address
  std::string upstream_address;  // "" for the app the running proxy sends requests to
  bool diff = false;
};

void add_replay_command(CLI::App& app, replay_options& options);
// 0 when the replay ran (whatever the app answered), 1 when it could not, 2 usage;
// with --diff, 3 when it ran and the response differs from the captured one.
int replay(const replay_options& options);

}  // namespace hindsight::cli
