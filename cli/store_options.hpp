#pragma once
// What the commands that read the store (list, show, status, prune) share: where the
// data directory and its files are, the values their options take, and how a failure
// becomes an exit status.
#include <CLI/CLI.hpp>

#include <boost/json/object.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/writer.hpp"

namespace hindsight::cli {

// A bad option value: the message is printed and the exit status is 2.
struct usage_error : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// The files of one data directory. Nothing is created: these commands only read it
// (prune writes the database, which must exist).
struct store_location {
  std::filesystem::path data;        // absolute
  std::filesystem::path database;    // <data>/captures.db
  std::filesystem::path control;     // <data>/control.sock
  bool database_exists() const;
};

// `option` is --data as given ("" for the default). Throws std::runtime_error when the
// directory is missing or not a directory, saying which one and what to pass.
store_location locate_store(const std::string& option);

// The data directory for a command that writes in it (`rules add`, `token`): the one
// `run` uses when it exists, else created as `run` creates it (0700). Returns its
// absolute path; throws std::runtime_error as locate_store and prepare_data_dir do.
std::string data_dir_for_cli(const std::string& option);

// Adds --data to a subcommand.
void add_data_option(CLI::App& command, std::string& data);

// Runs a command body: its return value is the exit status; usage_error exits 2, any
// other exception (store::error included) prints its message and exits 1.
int run_command(const std::function<int()>& body);

// Status lists as --status and --capture-status take them: "500", "500-599", "5xx",
// comma-separated ("500-599,429"). Inclusive ranges within 100–599. Throws
// usage_error naming the bad part and the forms.
std::vector<std::pair<int, int>> parse_status_list(std::string_view text);

// The retention a running proxy reports on its control socket ("retention": {"rows",
// "bytes", "days"}); a part it does not report, or no reply at all, is store::retention's
// default.
store::retention retention_from_reply(const boost::json::object* reply);
// "100000 rows, 1 GiB, 14 days" ("no row limit", … for a zero).
std::string retention_text(const store::retention& keep);

// A measured amount, rounded for reading: "512 B", "64.0 KiB", "12.3 MiB". (Configured
// limits print exactly with byte_size_text.)
std::string rounded_size_text(std::uint64_t bytes);

// parse_byte_size, its failure a usage_error.
std::uint64_t size_option(std::string_view option, std::string_view text);

}  // namespace hindsight::cli
