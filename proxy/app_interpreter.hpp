#pragma once
// Which Python the supervised app runs under, so that `hindsight replay` can give the
// worker the app's environment (its virtualenv's packages) without the user typing
// --python. Found the way the kernel and the shell find it: argv[0] on PATH, then the
// script's `#!` line (`#!/srv/app/.venv/bin/python`, `#!/usr/bin/env python3`).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace hindsight::proxy {

// `argv` as hindsight runs it from `cwd` with `path_env` as PATH, and the VIRTUAL_ENV
// the app inherits ("" when unset), which wins as it does for the worker. The path is
// kept as found, not resolved through symlinks: a virtualenv's bin/python is a symlink
// whose own location is what makes it that virtualenv. nullopt: not a Python program
// as far as can be told (e.g. `sh -c '…'`, or a binary).
std::optional<std::string> app_interpreter(const std::vector<std::string>& argv, std::string_view cwd,
                                           std::string_view path_env, std::string_view virtual_env);

}  // namespace hindsight::proxy
