#include "cli/time_format.hpp"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "cli/duration.hpp"

namespace hindsight::cli {
namespace {

namespace chr = std::chrono;

struct utc_parts {
  int year;
  unsigned month, day, hour, minute, second, millisecond;
};

utc_parts split(std::int64_t time_us) {
  chr::sys_time<chr::microseconds> t{chr::microseconds(time_us)};
  auto day = chr::floor<chr::days>(t);
  chr::year_month_day ymd{day};
  auto ms = chr::floor<chr::milliseconds>(t - day).count();  // into the day, never negative
  return {static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
          static_cast<unsigned>(ms / 3'600'000), static_cast<unsigned>(ms / 60'000 % 60),
          static_cast<unsigned>(ms / 1000 % 60), static_cast<unsigned>(ms % 1000)};
}

}  // namespace

std::string iso8601_ms(std::int64_t time_us) {
  auto p = split(time_us);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02u:%02u:%02u.%03uZ", p.year, p.month, p.day, p.hour, p.minute,
                p.second, p.millisecond);
  return buf;
}

std::string iso8601_seconds(std::int64_t time_us) {
  auto p = split(time_us);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02u:%02u:%02uZ", p.year, p.month, p.day, p.hour, p.minute,
                p.second);
  return buf;
}

std::int64_t parse_iso8601(std::string_view text) {
  auto fail = [&]() -> std::int64_t {
    throw std::invalid_argument("invalid time '" + std::string(text) +
                                "' (expected ISO 8601 like 2026-11-26, 2026-11-26T14:02 or 2026-11-26T14:02:03Z; UTC "
                                "unless an offset such as +01:00 follows)");
  };
  std::size_t pos = 0;
  // Exactly `digits` decimal digits.
  auto number = [&](std::size_t digits, int& out) {
    if (pos + digits > text.size()) return false;
    auto [end, ec] = std::from_chars(text.data() + pos, text.data() + pos + digits, out);
    if (ec != std::errc{} || end != text.data() + pos + digits) return false;
    pos += digits;
    return true;
  };
  auto expect = [&](char c) {
    if (pos < text.size() && text[pos] == c) return ++pos, true;
    return false;
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  std::int64_t frac_us = 0;
  if (!number(4, y) || !expect('-') || !number(2, mo) || !expect('-') || !number(2, d)) return fail();
  chr::year_month_day ymd{chr::year(y), chr::month(static_cast<unsigned>(mo)), chr::day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return fail();
  if (pos < text.size() && (text[pos] == 'T' || text[pos] == 't' || text[pos] == ' ')) {
    ++pos;
    if (!number(2, h) || !expect(':') || !number(2, mi)) return fail();
    if (expect(':')) {
      if (!number(2, s)) return fail();
      if (expect('.') || expect(',')) {
        std::int64_t scale = 100'000;
        std::size_t start = pos;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
          frac_us += (text[pos] - '0') * scale;
          scale /= 10;
          ++pos;
        }
        if (pos == start) return fail();
      }
    }
    if (h > 23 || mi > 59 || s > 60) return fail();
  }
  std::int64_t offset_s = 0;
  if (expect('Z') || expect('z')) {
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos++] == '-' ? -1 : 1;
    int oh = 0, om = 0;
    if (!number(2, oh)) return fail();
    expect(':');
    if (!number(2, om) || oh > 23 || om > 59) return fail();
    offset_s = sign * (oh * 3600 + om * 60);
  }
  if (pos != text.size()) return fail();
  auto days = chr::sys_days(ymd).time_since_epoch().count();
  std::int64_t seconds = days * 86'400 + h * 3600 + mi * 60 + s - offset_s;
  return seconds * 1'000'000 + frac_us;
}

std::int64_t parse_since(std::string_view text, std::int64_t now) {
  std::string why;
  // Days first: parse_duration stops at hours.
  if (!text.empty() && text.back() == 'd') {
    double days = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, days);
    if (ec == std::errc{} && end == text.data() + text.size() - 1 && days >= 0 && days < 100'000)
      return now - static_cast<std::int64_t>(days * 86'400e6);
  } else {
    try {
      return now - static_cast<std::int64_t>(parse_duration(text).count()) * 1000;
    } catch (const std::invalid_argument&) {
    }
  }
  try {
    return parse_iso8601(text);
  } catch (const std::invalid_argument&) {
  }
  throw std::invalid_argument("invalid --since '" + std::string(text) +
                              "' (expected how long ago — 90s, 10m, 1h, 2d — or a UTC time such as "
                              "2026-11-26T14:00 or 2026-11-26T14:00:00+01:00)");
}

std::string format_duration_ms(double ms) {
  char buf[32];
  if (!(ms >= 0)) return "?";
  if (ms < 1) std::snprintf(buf, sizeof buf, "%.2f ms", ms);
  else if (ms < 10) std::snprintf(buf, sizeof buf, "%.1f ms", ms);
  else if (ms < 999.5) std::snprintf(buf, sizeof buf, "%.0f ms", ms);
  else if (ms < 9995) std::snprintf(buf, sizeof buf, "%.2f s", ms / 1000);
  else if (ms < 99'950) std::snprintf(buf, sizeof buf, "%.1f s", ms / 1000);
  else std::snprintf(buf, sizeof buf, "%.0f s", ms / 1000);
  return buf;
}

std::string format_elapsed(double seconds) {
  if (!(seconds >= 0)) return "?";
  auto s = static_cast<std::uint64_t>(seconds);
  char buf[48];
  if (s < 60) std::snprintf(buf, sizeof buf, "%llus", static_cast<unsigned long long>(s));
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%llum %02llus", static_cast<unsigned long long>(s / 60), static_cast<unsigned long long>(s % 60));
  else if (s < 86'400) std::snprintf(buf, sizeof buf, "%lluh %02llum", static_cast<unsigned long long>(s / 3600), static_cast<unsigned long long>(s / 60 % 60));
  else std::snprintf(buf, sizeof buf, "%llud %lluh", static_cast<unsigned long long>(s / 86'400), static_cast<unsigned long long>(s / 3600 % 24));
  return buf;
}

std::int64_t now_us() {
  return chr::duration_cast<chr::microseconds>(chr::system_clock::now().time_since_epoch()).count();
}

}  // namespace hindsight::cli
