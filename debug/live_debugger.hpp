#pragma once
// Live debug sessions (issue 5): requests whose debug rule fired run in a warm
// hindsight-worker, with pdb on a pseudo-terminal that `hindsight attach` shows in the
// developer's terminal (docs/attach-protocol.md). Everything here runs on one thread of
// its own with its own io_context — the workers' sockets and terminals, the attach
// socket, the timers — so the proxy's threads only hand requests over and get answers
// back; ordinary traffic never waits for a debug session.
//
// Worker slots: --debug-workers of them, each started on demand (spawn, hello, load the
// app), kept warm for --debug-idle after its last request. A request finding every slot
// busy gets 503 with Retry-After. A worker that crashes, hangs past its deadline or
// exits mid-session is replaced by a fresh one for the next request; its client gets
// 502/504 with the reason and the attached terminal is told.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "proxy/debug_dispatcher.hpp"
#include "replay/app_spec.hpp"
#include "replay/worker_process.hpp"

namespace hindsight::debug {

struct live_options {
  replay::worker_options worker;        // the executable and --python (the terminal is added per worker)
  replay::app_spec app;                 // what the worker imports
  std::string upstream;                 // where the app listens behind the proxy: the environ's server
  std::filesystem::path attach_socket;  // <data>/attach.sock
  unsigned workers = 1;                 // --debug-workers
  std::chrono::milliseconds idle{std::chrono::minutes(10)};         // --debug-idle
  std::chrono::milliseconds attach_wait{std::chrono::seconds(60)};  // --attach-wait
  // A request's time in the worker until a pdb prompt opens (--upstream-timeout), and
  // from then on (--debug-timeout): a developer at a prompt is not a runaway request.
  std::chrono::milliseconds request_timeout{std::chrono::seconds(120)};
  std::chrono::milliseconds session_timeout{std::chrono::hours(1)};
  std::chrono::milliseconds load_timeout{std::chrono::seconds(60)};
  std::chrono::milliseconds grace{std::chrono::seconds(2)};
  std::uint64_t body_limit = 64ull << 20;  // the largest response body passed on
};

class live_debugger : public proxy::debug_dispatcher {
 public:
  explicit live_debugger(live_options options);
  ~live_debugger() override;
  live_debugger(const live_debugger&) = delete;
  live_debugger& operator=(const live_debugger&) = delete;

  // Listens on the attach socket (0600; a stale file is replaced) and starts the
  // debugger's thread. Throws std::runtime_error saying what failed.
  void start();
  // Ends every session (their clients get 503, attached terminals are told why), stops
  // the workers and the thread. Idempotent.
  void stop(std::string why);

  void submit(proxy::debug_job job, std::function<void(proxy::debug_answer)> done) override;

  // For `hindsight status`; asked from another thread (waits at most a second for the
  // debugger's own: nullopt if it did not answer).
  struct stats {
    unsigned workers = 0;            // --debug-workers
    unsigned warm = 0;               // started, with the app imported
    unsigned busy = 0;               // running a session
    unsigned terminals_waiting = 0;  // `hindsight attach` connections without a session
    std::uint64_t sessions = 0;      // since start, busy answers included
  };
  std::optional<stats> current_stats() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace hindsight::debug
