#pragma once
// `hindsight prune`: applies retention now, or empties the store with --all. Each part
// of the retention comes from, in order: its option, the running proxy, the retention
// the last proxy recorded in the database, the defaults (and the output says which).
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
// The same over `base`: each option given replaces its part of it.
store::retention retention_from(const prune_options& options, store::retention base);

}  // namespace hindsight::cli
