#pragma once
// `hindsight prune`: applies retention now (the running proxy's, unless options say
// otherwise), or empties the store with --all.
#include <CLI/CLI.hpp>

#include <boost/json/object.hpp>

#include <string>

#include "store/writer.hpp"

namespace hindsight::cli {

struct prune_options {
  std::string data;
  std::string retain_rows, retain_bytes, retain_days;
  bool all = false;
};

void add_prune_command(CLI::App& app, prune_options& options);
int prune(const prune_options& options);

// The retention to apply: each option given wins; the rest come from the running proxy's
// reply (its "retention" object) when there is one, else store::retention's defaults.
// Throws usage_error for a value it cannot read.
store::retention retention_from(const prune_options& options, const boost::json::object* proxy_reply);

}  // namespace hindsight::cli
