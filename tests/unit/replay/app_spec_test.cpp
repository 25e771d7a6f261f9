#include "replay/app_spec.hpp"

#include <gtest/gtest.h>

using hindsight::replay::infer_from_command;

TEST(AppSpec, takes_the_last_positional_argument_of_gunicorn) {
  auto r = infer_from_command({"gunicorn", "-w", "4", "-b", "unix:/run/app.sock", "myapp.wsgi:application"}, "/srv/app");
  ASSERT_TRUE(r.found) << r.problem;
  EXPECT_EQ(r.spec.app, "myapp.wsgi:application");
  EXPECT_EQ(r.spec.chdir, "/srv/app");  // gunicorn imports from its working directory
  EXPECT_TRUE(r.spec.pythonpath.empty());
}

TEST(AppSpec, reads_chdir_in_both_forms_relative_to_the_proxy_directory) {
  auto spaced = infer_from_command({"/usr/bin/gunicorn", "--chdir", "examples/django", "myapp.wsgi"}, "/work");
  ASSERT_TRUE(spaced.found);
  EXPECT_EQ(spaced.spec.chdir, "/work/examples/django");
  auto joined = infer_from_command({"gunicorn", "--chdir=/abs/app", "app:app"}, "/work");
  ASSERT_TRUE(joined.found);
  EXPECT_EQ(joined.spec.chdir, "/abs/app");
}

TEST(AppSpec, splits_pythonpath_on_commas_relative_to_chdir) {
  auto r = infer_from_command({"gunicorn", "--chdir", "/app", "--pythonpath", "src,../lib", "--pythonpath=/opt/x",
                               "pkg.wsgi"},
                              "/work");
  ASSERT_TRUE(r.found);
  EXPECT_EQ(r.spec.pythonpath, (std::vector<std::string>{"/app/src", "/lib", "/opt/x"}));
}

TEST(AppSpec, collects_env_in_every_form) {
  auto r = infer_from_command({"gunicorn", "-e", "DJANGO_SETTINGS_MODULE=s.prod", "--env=A=1=2", "-eB=", "--env", "C=c",
                               "s.wsgi"},
                              "/w");
  ASSERT_TRUE(r.found);
  using env = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(r.spec.env, (env{{"DJANGO_SETTINGS_MODULE", "s.prod"}, {"A", "1=2"}, {"B", ""}, {"C", "c"}}));
}

TEST(AppSpec, option_values_are_not_taken_for_the_app) {
  // The conftest's own command line: options with values after the spec's position would
  // be mistaken for it if their values were not skipped.
  auto r = infer_from_command({"gunicorn", "app:app", "-k", "gthread", "--threads", "4", "--timeout", "60"}, "/w");
  ASSERT_TRUE(r.found);
  EXPECT_EQ(r.spec.app, "app:app");
  auto flags = infer_from_command({"gunicorn", "--capture-output", "--preload", "app:create_app()"}, "/w");
  ASSERT_TRUE(flags.found);
  EXPECT_EQ(flags.spec.app, "app:create_app()");
}

TEST(AppSpec, understands_python_dash_m_gunicorn) {
  auto r = infer_from_command({"/venv/bin/python3", "-u", "-m", "gunicorn", "--chdir", "/a", "w:app"}, "/w");
  ASSERT_TRUE(r.found) << r.problem;
  EXPECT_EQ(r.spec.app, "w:app");
  EXPECT_EQ(r.spec.chdir, "/a");
}

TEST(AppSpec, says_why_when_it_cannot_tell) {
  auto shell = infer_from_command({"sh", "-c", "gunicorn app:app"}, "/w");
  EXPECT_FALSE(shell.found);
  EXPECT_NE(shell.problem.find("not gunicorn"), std::string::npos) << shell.problem;
  auto config = infer_from_command({"gunicorn", "-c", "gunicorn.conf.py"}, "/w");
  EXPECT_FALSE(config.found);
  EXPECT_NE(config.problem.find("gunicorn.conf.py"), std::string::npos) << config.problem;
  auto other_python = infer_from_command({"python3", "manage.py", "runserver"}, "/w");
  EXPECT_FALSE(other_python.found);
  EXPECT_FALSE(infer_from_command({}, "/w").found);
}
