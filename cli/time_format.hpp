#pragma once
// Times as the CLI prints and reads them. Everything printed is UTC (a server's local
// zone is rarely the reader's), in ISO 8601 with a Z, so nothing is ambiguous.
#include <cstdint>
#include <string>
#include <string_view>

namespace hindsight::cli {

// µs since the epoch → "2026-11-26T14:02:03.123Z" (JSON, `show`).
std::string iso8601_ms(std::int64_t time_us);
// → "2026-11-26T14:02:03Z" (tables).
std::string iso8601_seconds(std::int64_t time_us);

// "2026-11-26", "2026-11-26T14:02", "2026-11-26 14:02:03.5", with an optional "Z" or
// "+01:00"; UTC unless an offset is given. Throws std::invalid_argument.
std::int64_t parse_iso8601(std::string_view text);

// --since: a duration back from `now_us` (10m, 1h, 2d; see parse_duration), or a time
// as parse_iso8601 reads it. Throws std::invalid_argument naming both forms.
std::int64_t parse_since(std::string_view text, std::int64_t now_us);

// An exchange's duration: "0.42 ms", "4.2 ms", "123 ms", "1.23 s", "12.3 s", "123 s".
std::string format_duration_ms(double ms);

// An uptime or an age: "45s", "12m 05s", "2h 03m", "3d 4h".
std::string format_elapsed(double seconds);

std::int64_t now_us();

}  // namespace hindsight::cli
