#include "cli/byte_size.hpp"

#include <charconv>
#include <limits>
#include <stdexcept>
#include <utility>

namespace hindsight::cli {

std::uint64_t parse_byte_size(std::string_view text) {
  auto bad = [&] {
    return std::invalid_argument("'" + std::string(text) +
                                 "' is not a size; write bytes (1048576) or with a unit: 64KiB, 1MiB, 1GiB, 500MB");
  };
  std::uint64_t value = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || p == text.data()) throw bad();
  std::string_view unit(p, text.data() + text.size() - p);
  while (unit.starts_with(' ')) unit.remove_prefix(1);
  static constexpr std::pair<std::string_view, std::uint64_t> units[] = {
      {"", 1},           {"B", 1},
      {"k", 1ull << 10}, {"K", 1ull << 10}, {"KiB", 1ull << 10}, {"KB", 1000},
      {"m", 1ull << 20}, {"M", 1ull << 20}, {"MiB", 1ull << 20}, {"MB", 1000'000},
      {"g", 1ull << 30}, {"G", 1ull << 30}, {"GiB", 1ull << 30}, {"GB", 1000'000'000},
      {"TiB", 1ull << 40}, {"TB", 1000'000'000'000}};
  for (auto [name, factor] : units) {
    if (unit != name) continue;
    if (value > std::numeric_limits<std::uint64_t>::max() / factor) throw bad();
    return value * factor;
  }
  throw bad();
}

std::string byte_size_text(std::uint64_t bytes) {
  static constexpr std::pair<std::string_view, std::uint64_t> units[] = {
      {"TiB", 1ull << 40}, {"GiB", 1ull << 30}, {"MiB", 1ull << 20}, {"KiB", 1ull << 10}};
  for (auto [name, factor] : units)
    if (bytes >= factor && bytes % factor == 0) return std::to_string(bytes / factor) + " " + std::string(name);
  return std::to_string(bytes) + " B";
}

}  // namespace hindsight::cli
