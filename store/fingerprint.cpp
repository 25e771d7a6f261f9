#include "store/fingerprint.hpp"

#include <algorithm>
#include <cstddef>

namespace hindsight::store {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool all_digits(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_digit); }

int number_at(std::string_view s, std::size_t pos, std::size_t len) {
  int n = 0;
  for (std::size_t i = pos; i < pos + len; ++i) n = n * 10 + (s[i] - '0');
  return n;
}

// A calendar date that could be meant as one: a year people write in URLs, a real month,
// a day that month can have (29 February always, leap years are not worth the check).
bool plausible_date(int year, int month, int day) {
  static constexpr int days_in[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return year >= 1900 && year <= 2199 && month >= 1 && month <= 12 && day >= 1 && day <= days_in[month - 1];
}

// 2024-05-01 or 20240501. An eight-digit number that is not a plausible date stays {int}.
bool is_date(std::string_view s) {
  if (s.size() == 10 && s[4] == '-' && s[7] == '-') {
    if (!all_digits(s.substr(0, 4)) || !all_digits(s.substr(5, 2)) || !all_digits(s.substr(8, 2))) return false;
    return plausible_date(number_at(s, 0, 4), number_at(s, 5, 2), number_at(s, 8, 2));
  }
  if (s.size() == 8 && all_digits(s)) return plausible_date(number_at(s, 0, 4), number_at(s, 4, 2), number_at(s, 6, 2));
  return false;
}

// 8-4-4-4-12 hex digits, any case (RFC 9562 §4 writes them lowercase; clients do not always).
bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool dash_here = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_here ? s[i] != '-' : !is_hex(s[i])) return false;
  }
  return true;
}

// A hex id (a hash, an object id). "deadbeef" and "coffee" are words, so at least one digit.
bool is_hex_id(std::string_view s) {
  return s.size() >= 8 && std::all_of(s.begin(), s.end(), is_hex) && std::any_of(s.begin(), s.end(), is_digit);
}

// The placeholder for a whole segment, or "" when the segment is not an id.
std::string_view placeholder_of(std::string_view s) {
  if (s.empty()) return {};
  if (is_date(s)) return "{date}";  // before {int}: 20240501 is all digits
  if (all_digits(s)) return "{int}";
  if (is_uuid(s)) return "{uuid}";
  if (is_hex_id(s)) return "{hex}";
  return {};
}

std::string route_segment(std::string_view s) {
  if (auto p = placeholder_of(s); !p.empty()) return std::string(p);
  // An id with a file extension: /invoices/123.pdf → /invoices/{int}.pdf. The extension
  // starts with a letter so that a version such as 1.5 is not read as one.
  if (auto dot = s.find('.'); dot != std::string_view::npos && dot > 0 && dot + 1 < s.size()) {
    std::string_view ext = s.substr(dot + 1);
    bool ext_ok = is_alpha(ext.front()) &&
                  std::all_of(ext.begin(), ext.end(), [](char c) { return is_alpha(c) || is_digit(c) || c == '.'; });
    if (ext_ok) {
      if (auto p = placeholder_of(s.substr(0, dot)); !p.empty()) return std::string(p) + std::string(s.substr(dot));
    }
  }
  return std::string(s);
}

// The path of a request-target (RFC 9112 §3.2): origin-form "/p?q", absolute-form
// "http://host/p?q", asterisk-form "*". Authority-form (CONNECT host:port) has no path
// and is kept as it is.
std::string_view path_of(std::string_view target) {
  if (target == "*") return target;
  if (!target.empty() && target.front() != '/') {
    if (auto scheme_end = target.find("://"); scheme_end != std::string_view::npos) {
      std::string_view rest = target.substr(scheme_end + 3);
      auto path_start = rest.find_first_of("/?#");
      if (path_start == std::string_view::npos || rest[path_start] != '/') return "/";
      target = rest.substr(path_start);
    }
  }
  return target.substr(0, target.find_first_of("?#"));
}

}  // namespace

std::string route_of(std::string_view target) {
  std::string_view path = path_of(target);
  if (path == "*") return "*";
  std::string route;
  route.reserve(path.size());
  std::size_t start = 0;
  while (true) {
    std::size_t slash = path.find('/', start);
    route += route_segment(path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
    if (slash == std::string_view::npos) break;
    route += '/';
    start = slash + 1;
  }
  return route;
}

std::string fingerprint(std::string_view method, std::string_view route, int status, std::string_view upstream_error_kind) {
  std::string fp;
  fp.reserve(method.size() + route.size() + upstream_error_kind.size() + 6);
  fp.append(method).append(" ").append(route).append(" ").append(std::to_string(status));
  if (!upstream_error_kind.empty()) fp.append(" ").append(upstream_error_kind);
  return fp;
}

}  // namespace hindsight::store
