#include "cli/json_output.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>

#include "cli/text_encoding.hpp"

namespace hindsight::cli {
namespace {

void write_string(std::string& out, std::string_view s) {
  std::string decoded;
  if (!is_valid_utf8(s)) {
    decoded = latin1_to_utf8(s);
    s = decoded;
  }
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

void write_double(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out += "null";
    return;
  }
  char buf[64];
  // Shortest form that reads back as the same double.
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  if (ec != std::errc{}) {
    out += "null";
    return;
  }
  out.append(buf, end);
}

void write(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: out += "null"; break;
    case boost::json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case boost::json::kind::int64: out += std::to_string(v.get_int64()); break;
    case boost::json::kind::uint64: out += std::to_string(v.get_uint64()); break;
    case boost::json::kind::double_: write_double(out, v.get_double()); break;
    case boost::json::kind::string: write_string(out, v.get_string()); break;
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out += ',';
        first = false;
        write(out, e);
      }
      out += ']';
      break;
    }
    case boost::json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& kv : v.get_object()) {
        if (!first) out += ',';
        first = false;
        write_string(out, kv.key());
        out += ':';
        write(out, kv.value());
      }
      out += '}';
      break;
    }
  }
}

}  // namespace

std::string to_json_text(const boost::json::value& v) {
  std::string out;
  write(out, v);
  return out;
}

}  // namespace hindsight::cli
