#pragma once
// `hindsight run`: the proxy in front of the app, supervising it when given its command.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace hindsight::cli {

struct run_options {
  std::string listen, upstream, inner, data;
  unsigned threads = 0;
  std::string header_timeout = "10s", idle_timeout = "75s", body_timeout = "60s", connect_timeout = "5s",
              upstream_timeout = "120s", drain = "30s", stop_timeout = "10s", ready_timeout = "60s";
  std::size_t max_connections = 10'000, max_header_size = 65'536, max_headers = 100;
  std::string log_format = "text", log_level = "info", access_log = "on";
  // Capture and the store.
  std::string capture = "on", capture_status = "500-599", capture_slow, capture_request_body = "1MiB",
              capture_response_body = "64KiB";
  double capture_sample = 0;
  std::size_t capture_queue = 1024;
  std::uint64_t retain_rows = 100'000;
  std::string retain_bytes = "1GiB", store_max_size;
  double retain_days = 14;
  std::vector<std::string> redact, keep;
  // Live debug sessions (debug/live_debugger.hpp).
  unsigned debug_workers = 1;
  std::string debug_idle = "10m", attach_wait = "60s", debug_timeout = "1h";
  std::string debug_app, debug_python;
  std::vector<std::string> command;
};

void add_run_command(CLI::App& app, run_options& options);

// Runs until SIGTERM/SIGINT (exit status 0) or a start-up failure (1); a bad value is a
// usage error (2).
int run(const run_options& options);

}  // namespace hindsight::cli
