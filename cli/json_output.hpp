#pragma once
// JSON as the commands print it: one document per line, numbers as people write them
// (12, 1.5 — Boost.JSON's serializer writes 1.2E1 and 1.5E0), strings always valid UTF-8.
#include <boost/json/value.hpp>

#include <string>

namespace hindsight::cli {

// Compact, no trailing newline. A string that is not valid UTF-8 is written decoded as
// latin-1, so the output is always a valid document; NaN and infinities become null.
std::string to_json_text(const boost::json::value& v);

}  // namespace hindsight::cli
