#pragma once
// Runs the user's app command, waits until it accepts connections, restarts it with
// back-off when it dies, and stops it on shutdown. Runs on a libuv loop; uv.h stays
// out of this header.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "proxy/address.hpp"

struct uv_loop_s;

namespace hindsight::proxy {

struct supervisor_options {
  std::vector<std::string> argv;                         // run as given: no shell unless argv names one
  std::vector<std::pair<std::string, std::string>> env;  // set on top of hindsight's environment
  address inner;                                         // where the app must listen
  std::chrono::milliseconds ready_timeout{60'000};
  std::chrono::milliseconds stop_timeout{10'000};
  std::chrono::milliseconds max_backoff{30'000};
};

class supervisor {
 public:
  supervisor(uv_loop_s* loop, supervisor_options options);
  ~supervisor();
  supervisor(const supervisor&) = delete;
  supervisor& operator=(const supervisor&) = delete;

  // Starts the app. `on_ready` runs once, the first time it accepts connections;
  // `on_fatal` runs instead if the first start fails (it cannot be executed, exits,
  // or does not listen within ready_timeout), with a message for the user.
  void start(std::function<void()> on_ready, std::function<void(std::string)> on_fatal);
  // Sends SIGTERM, then SIGKILL to its process group after stop_timeout;
  // `on_stopped` runs once it is gone and every handle is closed.
  void stop(std::function<void()> on_stopped);
  // Why the app may not be answering ("" while it runs). Thread-safe: proxy threads
  // put it in their 502 answers.
  std::string unavailable_hint() const;
  // How many times the app has exited (crashed or was stopped). Thread-safe and cheap.
  std::uint64_t exits() const;
  // The same, counting an app that has died but is not reaped yet (reads /proc: for
  // failure paths only).
  std::uint64_t exits_including_dying() const;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

// "exited with status 3", "was killed by SIGKILL".
std::string describe_exit(long long status, int signal);

}  // namespace hindsight::proxy
