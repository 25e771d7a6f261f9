#pragma once
#include <stdexcept>
#include <string>

namespace hindsight::store {

// A store failure with a message fit for the user: what failed, why, what to do.
// `code` is SQLite's extended result code, or 0 when the failure is not SQLite's.
struct error : std::runtime_error {
  error(const std::string& what, int code = 0) : std::runtime_error(what), code(code) {}
  int code;
};

}  // namespace hindsight::store
