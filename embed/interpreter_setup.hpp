// Which interpreter's environment the worker takes on (--python PATH or $VIRTUAL_ENV),
// and whether its major.minor matches the libpython the worker embeds. No Python.h:
// this runs before the interpreter starts.
#pragma once

#include <optional>
#include <string>

namespace hindsight::worker {

struct target_interpreter {
  std::string executable;  // e.g. /srv/app/.venv/bin/python
  std::string version;     // "3.11" (major.minor), empty when it could not be found out
  std::string source;      // "--python" or "$VIRTUAL_ENV", for messages
};

// The interpreter this worker was built against: its version is known without asking.
struct known_interpreter {
  std::string executable;
  std::string version;
};

// --python wins over $VIRTUAL_ENV; nullopt when neither is given (the worker then
// runs as the embedded interpreter's own installation). Its version comes from a
// pyvenv.cfg, else from `known` when it is the same file, else by running it.
std::optional<target_interpreter> find_target_interpreter(const std::optional<std::string>& python_flag,
                                                          const known_interpreter& known = {});

// major.minor of an interpreter: the `version`/`version_info` line of the pyvenv.cfg
// next to it (a venv), else asks the interpreter itself. Empty when neither works.
std::string interpreter_version(const std::string& executable);

// The user-facing message for a version mismatch: both versions and how to rebuild.
std::string version_mismatch_message(const target_interpreter& target, const std::string& embedded);

}  // namespace hindsight::worker
