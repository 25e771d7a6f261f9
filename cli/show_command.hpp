#pragma once
// `hindsight show ID`: one exchange, request and response, secrets masked, and the
// replays of it; --raw prints the request's bytes as they would be sent again;
// --replay N shows a stored replay of it as `hindsight replay` printed it.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

namespace hindsight::cli {

struct show_options {
  std::string data;
  std::string id;
  bool reveal = false, raw = false, json = false, html = false;
  std::string body_limit = "8KiB";
  std::int64_t replay = 0;  // 0: the capture itself
};

void add_show_command(CLI::App& app, show_options& options);
int show(const show_options& options);

}  // namespace hindsight::cli
