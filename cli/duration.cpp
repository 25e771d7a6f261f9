#include "cli/duration.hpp"

#include <charconv>
#include <stdexcept>
#include <string>

namespace hindsight::cli {

std::chrono::milliseconds parse_duration(std::string_view text) {
  auto fail = [&] {
    throw std::invalid_argument("invalid duration '" + std::string(text) + "' (expected a number with an optional unit: 10, 10s, 500ms, 2m, 1h)");
  };
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end == text.data() || value < 0) fail();
  std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  double ms = 0;
  if (unit.empty() || unit == "s") ms = value * 1000;
  else if (unit == "ms") ms = value;
  else if (unit == "m" || unit == "min") ms = value * 60'000;
  else if (unit == "h") ms = value * 3'600'000;
  else fail();
  if (ms > 1e12) fail();
  return std::chrono::milliseconds(static_cast<long long>(ms + 0.5));
}

}  // namespace hindsight::cli
