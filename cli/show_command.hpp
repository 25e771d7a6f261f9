#pragma once
// `hindsight show ID`: one exchange, request and response, secrets masked, and the
// replays of it; --raw prints the request's bytes as they would be sent again;
// --replay N shows a stored replay of it as `hindsight replay` printed it.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "store/capture.hpp"

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

// The capture `ID` names in the data directory `--data` names, for the commands that
// take one (show, export). Throws usage_error for an id that is not a number, and
// std::runtime_error for one that is not there, saying what the newest is.
store::stored_capture load_capture(const std::string& data_option, const std::string& id_text);

// All of `bytes`, or std::runtime_error naming `where` (stdout may be a closed pipe).
void write_all(int fd, std::string_view bytes, std::string_view where);

}  // namespace hindsight::cli
