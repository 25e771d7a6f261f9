#include "proxy/app_interpreter.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace hindsight::proxy {
namespace {

namespace fs = std::filesystem;

bool is_python_name(const fs::path& p) { return p.filename().string().starts_with("python"); }

// As execvp searches: a name with a slash is a path (relative to cwd); else the first
// executable regular file of that name in PATH's directories ("" meaning cwd).
std::optional<fs::path> find_program(std::string_view name, std::string_view cwd, std::string_view path_env) {
  if (name.empty()) return std::nullopt;
  auto executable = [](const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
  };
  if (name.find('/') != std::string_view::npos) {
    fs::path p = fs::path(cwd) / name;  // an absolute name replaces cwd
    if (!executable(p)) return std::nullopt;
    return p.lexically_normal();
  }
  while (true) {
    auto colon = path_env.find(':');
    std::string_view dir = path_env.substr(0, colon);
    fs::path p = (dir.empty() ? fs::path(cwd) : fs::path(cwd) / dir) / name;
    if (executable(p)) return p.lexically_normal();
    if (colon == std::string_view::npos) return std::nullopt;
    path_env.remove_prefix(colon + 1);
  }
}

// The words of a script's `#!` line, or none.
std::vector<std::string> shebang(const fs::path& script) {
  std::ifstream in(script, std::ios::binary);
  std::string line;
  if (!in || !std::getline(in, line) || !line.starts_with("#!")) return {};
  std::vector<std::string> words;
  std::size_t i = 2;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

}  // namespace

std::optional<std::string> app_interpreter(const std::vector<std::string>& argv, std::string_view cwd,
                                           std::string_view path_env, std::string_view virtual_env) {
  if (!virtual_env.empty()) return (fs::path(virtual_env) / "bin" / "python").lexically_normal().string();
  if (argv.empty()) return std::nullopt;
  auto program = find_program(argv[0], cwd, path_env);
  if (!program) return std::nullopt;
  if (is_python_name(*program)) return program->string();  // python -m gunicorn …

  auto words = shebang(*program);
  if (words.empty()) return std::nullopt;
  if (fs::path(words[0]).filename() == "env") {
    // #!/usr/bin/env [-S] [NAME=VALUE…] python3 [args]
    for (std::size_t i = 1; i < words.size(); ++i) {
      if (words[i].starts_with("-") || words[i].find('=') != std::string::npos) continue;
      if (!is_python_name(words[i])) return std::nullopt;
      auto found = find_program(words[i], cwd, path_env);
      return found ? std::optional<std::string>(found->string()) : std::nullopt;
    }
    return std::nullopt;
  }
  if (!is_python_name(words[0])) return std::nullopt;
  return fs::path(words[0]).lexically_normal().string();
}

}  // namespace hindsight::proxy
