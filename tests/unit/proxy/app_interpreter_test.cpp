// Which Python a supervised command runs under: PATH search, `#!` lines, `env`, and
// VIRTUAL_ENV, on real files in a temporary directory.
#include "proxy/app_interpreter.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using hindsight::proxy::app_interpreter;
namespace fs = std::filesystem;

namespace {

struct scratch {
  fs::path root = fs::temp_directory_path() / ("hindsight-interp-" + std::to_string(::getpid()));
  scratch() {
    fs::remove_all(root);
    fs::create_directories(root / "venv" / "bin");
    fs::create_directories(root / "other");
  }
  ~scratch() { fs::remove_all(root); }
  std::string file(const std::string& rel, const std::string& text, bool exec = true) {
    auto p = root / rel;
    std::ofstream(p) << text;
    ::chmod(p.c_str(), exec ? 0755 : 0644);
    return p.string();
  }
};

}  // namespace

TEST(AppInterpreter, a_script_names_its_python_in_the_shebang) {
  scratch s;
  s.file("venv/bin/python", "");
  s.file("venv/bin/gunicorn", "#!" + (s.root / "venv/bin/python").string() + "\nimport gunicorn\n");
  auto path = (s.root / "venv/bin").string() + ":/usr/bin";
  EXPECT_EQ(app_interpreter({"gunicorn", "-w", "2", "app:app"}, "/", path, ""),
            (s.root / "venv/bin/python").string());
  // A path to the script, relative to the command's directory.
  EXPECT_EQ(app_interpreter({"venv/bin/gunicorn", "app:app"}, s.root.string(), "/usr/bin", ""),
            (s.root / "venv/bin/python").string());
}

TEST(AppInterpreter, env_shebangs_are_searched_on_path) {
  scratch s;
  s.file("other/python3", "");
  s.file("other/tool", "#!/usr/bin/env -S python3 -u\n");
  EXPECT_EQ(app_interpreter({"tool"}, "/", (s.root / "other").string(), ""), (s.root / "other/python3").string());
  s.file("other/not-python", "#!/usr/bin/env node\n");
  EXPECT_EQ(app_interpreter({"not-python"}, "/", (s.root / "other").string(), ""), std::nullopt);
}

TEST(AppInterpreter, python_itself_is_the_interpreter_as_found_not_resolved) {
  scratch s;
  fs::create_symlink("/usr/bin/python3", s.root / "venv/bin/python");
  EXPECT_EQ(app_interpreter({"python", "-m", "gunicorn", "app:app"}, "/", (s.root / "venv/bin").string(), ""),
            (s.root / "venv/bin/python").string());
}

TEST(AppInterpreter, virtual_env_wins) {
  EXPECT_EQ(app_interpreter({"gunicorn"}, "/", "/usr/bin", "/srv/app/.venv"), "/srv/app/.venv/bin/python");
}

TEST(AppInterpreter, not_python_or_not_found_is_unknown) {
  scratch s;
  s.file("other/server", "\x7f" "ELF binary");
  s.file("other/start.sh", "#!/bin/sh\nexec gunicorn app:app\n");
  s.file("other/plain", "#!/usr/bin/python3\n", /*exec=*/false);
  auto path = (s.root / "other").string();
  EXPECT_EQ(app_interpreter({"server"}, "/", path, ""), std::nullopt);
  EXPECT_EQ(app_interpreter({"start.sh"}, "/", path, ""), std::nullopt);
  EXPECT_EQ(app_interpreter({"plain"}, "/", path, ""), std::nullopt);  // not executable: execvp skips it
  EXPECT_EQ(app_interpreter({"missing"}, "/", path, ""), std::nullopt);
  EXPECT_EQ(app_interpreter({}, "/", path, ""), std::nullopt);
}
