#include "embed/interpreter_setup.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>

namespace hindsight::worker {
namespace {

namespace fs = std::filesystem;

std::string major_minor(const std::string& text) {
  std::smatch m;
  static const std::regex re(R"((\d+)\.(\d+))");
  if (std::regex_search(text, m, re)) return m[1].str() + "." + m[2].str();
  return {};
}

std::string version_from_pyvenv_cfg(const fs::path& executable) {
  // A venv's pyvenv.cfg is next to bin/ (or, rarely, next to the executable).
  for (const fs::path& dir : {executable.parent_path().parent_path(), executable.parent_path()}) {
    std::ifstream in(dir / "pyvenv.cfg");
    if (!in) continue;
    std::string line;
    while (std::getline(in, line)) {
      auto eq = line.find('=');
      if (eq == std::string::npos) continue;
      std::string key = line.substr(0, eq);
      key.erase(key.find_last_not_of(" \t") + 1);
      if (key == "version" || key == "version_info") return major_minor(line.substr(eq + 1));
    }
  }
  return {};
}

std::string version_by_asking(const std::string& executable) {
  int out[2];
  if (::pipe(out) != 0) return {};
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(out[0]);
    ::close(out[1]);
    return {};
  }
  if (pid == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    ::close(out[0]);
    ::close(out[1]);
    ::execl(executable.c_str(), executable.c_str(), "-S", "-c",
            "import sys; print('%d.%d' % sys.version_info[:2])", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string text;
  char buf[256];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return {};
  return major_minor(text);
}

}  // namespace

std::optional<target_interpreter> find_target_interpreter(const std::optional<std::string>& python_flag,
                                                          const known_interpreter& known) {
  target_interpreter t;
  if (python_flag && !python_flag->empty()) {
    t.executable = *python_flag;
    t.source = "--python";
  } else if (const char* venv = std::getenv("VIRTUAL_ENV"); venv && *venv) {
    t.executable = (fs::path(venv) / "bin" / "python").string();
    t.source = "$VIRTUAL_ENV";
  } else {
    return std::nullopt;
  }
  // Keep the venv's own path (no symlink resolution): that is how Python finds pyvenv.cfg.
  std::error_code ec;
  fs::path abs = fs::absolute(t.executable, ec);
  if (!ec) t.executable = abs.lexically_normal().string();
  t.version = version_from_pyvenv_cfg(t.executable);
  // Starting an interpreter only to ask costs a replay 20-40 ms: not for the one built in.
  if (t.version.empty() && !known.executable.empty()) {
    std::error_code same_error;
    if (fs::equivalent(t.executable, known.executable, same_error) && !same_error) t.version = known.version;
  }
  if (t.version.empty()) t.version = version_by_asking(t.executable);
  return t;
}

std::string interpreter_version(const std::string& executable) {
  std::string v = version_from_pyvenv_cfg(executable);
  return v.empty() ? version_by_asking(executable) : v;
}

std::string version_mismatch_message(const target_interpreter& target, const std::string& embedded) {
  return "hindsight-worker embeds Python " + embedded + " but the app's interpreter " + target.executable +
         " (from " + target.source + ") is Python " + target.version +
         ": its packages and C extensions cannot be loaded by another version. Rebuild the worker against it: "
         "cmake -S . -B build -DHINDSIGHT_WORKER_PYTHON=/usr/bin/python" + target.version +
         " (that interpreter's -dev package must be installed), or point --python at a Python " + embedded +
         " environment.";
}

}  // namespace hindsight::worker
