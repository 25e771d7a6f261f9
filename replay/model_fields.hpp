#pragma once
// Reading the worker's JSON (docs/worker-protocol.md) leniently: a field that is
// missing or of another type reads as empty, so that a result from an older or newer
// worker is still shown as far as it can be.
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace hindsight::replay::fields {

inline std::string str(const boost::json::object& o, std::string_view key) {
  if (auto* v = o.if_contains(key))
    if (auto* s = v->if_string()) return std::string(*s);
  return {};
}

inline std::int64_t integer(const boost::json::object& o, std::string_view key, std::int64_t otherwise = 0) {
  if (auto* v = o.if_contains(key)) {
    if (v->is_int64()) return v->as_int64();
    if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
    if (v->is_double()) return static_cast<std::int64_t>(v->as_double());
  }
  return otherwise;
}

inline bool boolean(const boost::json::object& o, std::string_view key) {
  if (auto* v = o.if_contains(key))
    if (auto* b = v->if_bool()) return *b;
  return false;
}

inline const boost::json::array* array(const boost::json::object& o, std::string_view key) {
  if (auto* v = o.if_contains(key)) return v->if_array();
  return nullptr;
}

// An exception's type as Python's traceback module names it: qualified unless it is a
// builtin ("KeyError", "json.decoder.JSONDecodeError").
inline std::string exception_name(const boost::json::object& e) {
  std::string type = str(e, "type"), module = str(e, "module");
  if (type.empty()) type = "Exception";
  return module.empty() || module == "builtins" || module == "__main__" ? type : module + "." + type;
}

}  // namespace hindsight::replay::fields
