#pragma once
// hindsight's own log on stderr, and its access log: one line per exchange, as nginx
// writes them, in text or JSON (--log-format).
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace hindsight::proxy {

struct exchange_record {
  std::string_view client;  // IP, or "unix" for a unix-socket peer
  std::string_view method;
  std::string_view target;
  int version = 11;
  int status = 0;           // 0 when no response was sent
  std::uint64_t bytes_in = 0;   // request body bytes forwarded
  std::uint64_t bytes_out = 0;  // response body bytes sent
  double duration_ms = 0;
  double upstream_ms = -1;  // -1 when the app was not reached
  std::string_view error;   // why the proxy answered or aborted, empty otherwise
};

enum class log_format { text, json };

// Sets up spdlog's default logger on stderr. `level` is one of spdlog's level names
// (trace, debug, info, warn, error, critical, off); access lines are info.
void configure_logging(log_format format, std::string_view level, bool access_log = true);
void log_exchange(const exchange_record& r);

// A duration for a message: "10 s", "500 ms".
std::string duration_text(std::chrono::milliseconds d);

// Appends `s` to `out` as the inside of a JSON string.
void append_json_escaped(std::string& out, std::string_view s);

}  // namespace hindsight::proxy
