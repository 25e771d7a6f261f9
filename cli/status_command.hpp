#pragma once
// `hindsight status`: whether a proxy runs on this data directory and what it is doing
// (asked over its control socket), and what the store holds.
#include <CLI/CLI.hpp>

#include <boost/json/object.hpp>

#include <optional>
#include <string>

#include "cli/control_client.hpp"
#include "store/queries.hpp"

namespace hindsight::cli {

struct status_options {
  std::string data;
  bool json = false;
};

void add_status_command(CLI::App& app, status_options& options);
int status(const status_options& options);

// What `status` found, rendered without I/O. `store` is empty when the database does not
// exist yet, or could not be read (`store_problem` says why).
struct status_report {
  std::string data, database;
  control_answer proxy;
  std::optional<store::store_summary> store;
  std::string store_problem;
};
std::string status_text(const status_report& r);
boost::json::object status_json(const status_report& r);
boost::json::object store_summary_json(const store::store_summary& s);

}  // namespace hindsight::cli
