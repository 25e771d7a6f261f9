#include "embed/interpreter_setup.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace hindsight::worker;

namespace {

struct temp_venv {
  fs::path root;
  explicit temp_venv(const std::string& cfg) {
    char tmpl[] = "/tmp/hindsight-venv-XXXXXX";
    root = ::mkdtemp(tmpl);
    fs::create_directories(root / "bin");
    std::ofstream(root / "pyvenv.cfg") << cfg;
    fs::create_symlink("/usr/bin/python3", root / "bin" / "python");
  }
  ~temp_venv() { fs::remove_all(root); }
};

}  // namespace

TEST(InterpreterSetup, version_comes_from_pyvenv_cfg) {
  temp_venv v("home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.12.1\n");
  EXPECT_EQ(interpreter_version((v.root / "bin" / "python").string()), "3.12");
}

TEST(InterpreterSetup, version_info_key_as_uv_writes_it) {
  temp_venv v("home = /usr/bin\nversion_info = 3.10.14\n");
  EXPECT_EQ(interpreter_version((v.root / "bin" / "python").string()), "3.10");
}

TEST(InterpreterSetup, without_pyvenv_cfg_the_interpreter_is_asked) {
  EXPECT_EQ(interpreter_version("/usr/bin/python3"), HINDSIGHT_TEST_PYTHON_VERSION);
  EXPECT_EQ(interpreter_version("/nonexistent/python"), "");
}

TEST(InterpreterSetup, python_flag_wins_over_virtual_env) {
  temp_venv v("version = 3.11.2\n");
  ::setenv("VIRTUAL_ENV", "/somewhere/else", 1);
  auto t = find_target_interpreter((v.root / "bin" / "python").string());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->source, "--python");
  EXPECT_EQ(t->version, "3.11");
  EXPECT_EQ(t->executable, (v.root / "bin" / "python").string());  // not resolved to /usr/bin/python3
  ::unsetenv("VIRTUAL_ENV");
}

TEST(InterpreterSetup, virtual_env_names_bin_python) {
  temp_venv v("version = 3.11.2\n");
  ::setenv("VIRTUAL_ENV", v.root.c_str(), 1);
  auto t = find_target_interpreter(std::nullopt);
  ::unsetenv("VIRTUAL_ENV");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->source, "$VIRTUAL_ENV");
  EXPECT_EQ(t->executable, (v.root / "bin" / "python").string());
}

TEST(InterpreterSetup, the_built_in_interpreter_is_not_asked_its_version) {
  // "9.9" can only come from `known`: asking /usr/bin/python3 would say 3.x.
  auto t = find_target_interpreter(std::string("/usr/bin/python3"), {"/usr/bin/python3", "9.9"});
  ASSERT_TRUE(t);
  EXPECT_EQ(t->version, "9.9");
  auto other = find_target_interpreter(std::string("/usr/bin/python3"), {"/bin/sh", "9.9"});
  ASSERT_TRUE(other);
  EXPECT_EQ(other->version, HINDSIGHT_TEST_PYTHON_VERSION);
}

TEST(InterpreterSetup, nothing_given_means_the_embedded_installation) {
  ::unsetenv("VIRTUAL_ENV");
  EXPECT_FALSE(find_target_interpreter(std::nullopt));
  EXPECT_FALSE(find_target_interpreter(std::string()));
}

TEST(InterpreterSetup, mismatch_message_names_both_versions_and_the_rebuild) {
  target_interpreter t{"/srv/app/.venv/bin/python", "3.12", "--python"};
  std::string m = version_mismatch_message(t, "3.11");
  EXPECT_NE(m.find("3.11"), std::string::npos);
  EXPECT_NE(m.find("3.12"), std::string::npos);
  EXPECT_NE(m.find("/srv/app/.venv/bin/python"), std::string::npos);
  EXPECT_NE(m.find("-DHINDSIGHT_WORKER_PYTHON=/usr/bin/python3.12"), std::string::npos);
}
