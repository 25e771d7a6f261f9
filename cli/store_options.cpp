#include "cli/store_options.hpp"

#include "proxy/capture.hpp"

#include <sys/stat.h>

#include <boost/json.hpp>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "cli/byte_size.hpp"
#include "cli/data_dir.hpp"

namespace hindsight::cli {
namespace {

std::optional<double> reply_number(const boost::json::object* reply, std::string_view key) {
  if (!reply) return std::nullopt;
  auto* r = reply->if_contains("retention");
  if (!r || !r->is_object()) return std::nullopt;
  auto* v = r->get_object().if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  if (v->is_double()) return v->get_double();
  return std::nullopt;
}

}  // namespace

bool store_location::database_exists() const {
  struct stat st{};
  return ::stat(database.c_str(), &st) == 0;
}

store_location locate_store(const std::string& option) {
  namespace fs = std::filesystem;
  std::string given = option.empty() ? default_data_dir() : option;
  std::error_code ec;
  fs::path data = fs::absolute(given, ec).lexically_normal();
  if (ec) throw std::runtime_error("cannot use the data directory '" + given + "': " + ec.message());
  if (!data.has_filename() && data.has_parent_path() && data != data.root_path()) data = data.parent_path();
  auto hint = option.empty() ? std::string(" (the default: $HINDSIGHT_DATA, else ./.hindsight)") : std::string();
  struct stat st{};
  if (::stat(data.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR)
      throw std::runtime_error("no data directory at '" + data.string() + "'" + hint +
                               ": nothing has been captured there — pass --data DIR with the directory `hindsight run` "
                               "uses, or set HINDSIGHT_DATA");
    throw std::runtime_error("cannot use the data directory '" + data.string() + "': " + std::strerror(err));
  }
  if (!S_ISDIR(st.st_mode))
    throw std::runtime_error("'" + data.string() + "' is not a directory: pass --data DIR with the data directory `hindsight run` uses");
  return {data, data / "captures.db", data / "control.sock"};
}

void add_data_option(CLI::App& command, std::string& data) {
  command.add_option("--data", data, "Data directory (default $HINDSIGHT_DATA or ./.hindsight)");
}

std::string data_dir_for_cli(const std::string& option) {
  struct stat st{};
  auto given = option.empty() ? default_data_dir() : option;
  // An existing directory is used as it is: its mode is `run`'s to warn about, in its log.
  if (::stat(given.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return locate_store(option).data.string();
  return prepare_data_dir(given);
}

int run_command(const std::function<int()>& body) {
  try {
    return body();
  } catch (const usage_error& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "hindsight: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "hindsight: error: %s\n", e.what());
    return 1;
  }
}

std::vector<std::pair<int, int>> parse_status_list(std::string_view text) {
  try {
    return proxy::parse_status_ranges(text);  // the same syntax as run's --capture-status
  } catch (const std::invalid_argument& e) {
    throw usage_error(std::string("invalid status list: ") + e.what());
  }
}

std::uint64_t size_option(std::string_view option, std::string_view text) {
  try {
    return parse_byte_size(text);
  } catch (const std::invalid_argument& e) {
    throw usage_error("invalid " + std::string(option) + ": " + e.what() + " (0: no limit)");
  }
}

store::retention retention_from_reply(const boost::json::object* reply) {
  store::retention keep;
  if (auto v = reply_number(reply, "rows"); v && *v >= 0) keep.rows = static_cast<std::uint64_t>(*v);
  if (auto v = reply_number(reply, "bytes"); v && *v >= 0) keep.bytes = static_cast<std::uint64_t>(*v);
  if (auto v = reply_number(reply, "days"); v && *v >= 0) keep.age = std::chrono::seconds(std::llround(*v * 86'400));
  return keep;
}

std::string retention_text(const store::retention& keep) {
  char days[32];
  std::snprintf(days, sizeof days, "%g day%s", static_cast<double>(keep.age.count()) / 86'400, keep.age.count() == 86'400 ? "" : "s");
  return (keep.rows == 0 ? std::string("no row limit") : std::to_string(keep.rows) + (keep.rows == 1 ? " row" : " rows")) + ", " +
         (keep.bytes == 0 ? std::string("no size limit") : byte_size_text(keep.bytes)) + ", " +
         (keep.age.count() == 0 ? std::string("no age limit") : std::string(days));
}

std::string rounded_size_text(std::uint64_t bytes) {
  static constexpr const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes) / 1024;
  std::size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace hindsight::cli
