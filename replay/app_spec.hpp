#pragma once
// What the worker imports: the WSGI app spec and the settings that make it importable,
// as `--app/--chdir/--pythonpath` give them or as inferred from the gunicorn command
// line that `hindsight run` supervises (so the user never types them twice).
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hindsight::replay {

struct app_spec {
  std::string app;                      // module:attribute, as gunicorn takes it ("module:create_app()" too)
  std::string chdir;                    // absolute, or "" for the current directory
  std::vector<std::string> pythonpath;  // absolute where they were given relative
  std::vector<std::pair<std::string, std::string>> env;  // gunicorn's -e/--env KEY=VALUE
};

struct inferred_app {
  bool found = false;
  app_spec spec;
  std::string problem;  // when not found: why, for the user
};

// Infers the app from a supervised command line run in `cwd`: gunicorn (`gunicorn`,
// `.../bin/gunicorn`, `python -m gunicorn`), its last positional argument as the spec,
// `--chdir`, `--pythonpath` (comma-separated, as gunicorn splits it) and `-e/--env`,
// each as `--opt X`, `--opt=X` or `-eX`. Relative paths are made absolute against cwd
// (and --pythonpath against --chdir, as gunicorn inserts it after chdir'ing). A wrapper
// such as `sh -c` or an option file (`-c gunicorn.conf.py`) hides what is run: not found.
inferred_app infer_from_command(const std::vector<std::string>& argv, std::string_view cwd);

}  // namespace hindsight::replay
