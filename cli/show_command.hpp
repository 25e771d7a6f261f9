#pragma once
// `hindsight show ID`: one exchange, request and response, secrets masked; --raw prints
// the request's bytes as they would be sent again.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

namespace hindsight::cli {

struct show_options {
  std::string data;
  std::string id;
  bool reveal = false, raw = false, json = false;
  std::string body_limit = "8KiB";
};

void add_show_command(CLI::App& app, show_options& options);
int show(const show_options& options);

}  // namespace hindsight::cli
