#include "cli/data_dir.hpp"

#include <sys/stat.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace hindsight::cli {
namespace {

[[noreturn]] void fail(const std::string& path, int err) {
  std::string why = "cannot use the data directory '" + path + "': " + std::strerror(err);
  if (err == ENOTDIR) why += " (a part of the path is a file)";
  why += " — hindsight needs a writable directory for its data: choose one with --data or HINDSIGHT_DATA. "
         "On Platform.sh and Upsun the application's file system is read-only after the build: declare a "
         "writable mount (e.g. `mounts: {'.hindsight': {source: local}}`) and point --data at it";
  throw std::runtime_error(why);
}

}  // namespace

std::string default_data_dir() {
  if (const char* env = std::getenv("HINDSIGHT_DATA"); env && *env) return env;
  return ".hindsight";
}

std::string prepare_data_dir(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto absolute = fs::absolute(path, ec).lexically_normal();
  if (ec) fail(path, ec.value());
  if (!absolute.has_filename() && absolute.has_parent_path() && absolute != absolute.root_path())
    absolute = absolute.parent_path();  // "dir/" names "dir"
  // Create each missing level, the last one owner-only.
  fs::path built;
  for (const auto& part : absolute) {
    built /= part;
    struct stat st{};
    if (::stat(built.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) fail(path, ENOTDIR);
      // Not changed behind the user's back (it may be shared on purpose), but said.
      if (built == absolute && (st.st_mode & 077) != 0) {
        spdlog::warn("the data directory '{}' is accessible to other users (mode {:03o}) and will hold captured "
                     "requests with their credentials: run `chmod 700 {}`",
                     absolute.string(), st.st_mode & 0777, absolute.string());
      }
      continue;
    }
    if (errno != ENOENT) fail(path, errno);
    bool last = built == absolute;
    if (::mkdir(built.c_str(), last ? 0700 : 0755) != 0 && errno != EEXIST) fail(path, errno);
    if (last) ::chmod(built.c_str(), 0700);  // mkdir's mode is filtered by the umask
  }
  // access() also reports a read-only mount (EROFS).
  if (::access(absolute.c_str(), W_OK | X_OK) != 0) fail(path, errno);
  return absolute.string();
}

}  // namespace hindsight::cli
