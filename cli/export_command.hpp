#pragma once
// `hindsight export ID --format curl|har|raw|python`: a captured request for another
// tool — a curl line, a HAR 1.2 file, the raw bytes for nc, a Python requests snippet.
// Credential headers are masked unless --reveal (replay/export.hpp).
#include <CLI/CLI.hpp>

#include <string>

namespace hindsight::cli {

struct export_options {
  std::string data;
  std::string id;
  std::string format;
  std::string output;  // "" for stdout
  bool reveal = false;
};

void add_export_command(CLI::App& app, export_options& options);
// 0 written; 1 no such capture or the output cannot be written; 2 usage.
int export_capture(const export_options& options);

}  // namespace hindsight::cli
