#pragma once
// One `hindsight-worker` process and the parent's end of its socket
// (docs/worker-protocol.md, Transport): started with posix_spawn, its stderr relayed to
// ours while its tail is kept to explain a crash, stopped with SIGTERM then SIGKILL.
#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace hindsight::replay {

// `hindsight-worker` next to the running executable (/proc/self/exe). Throws
// std::runtime_error saying where it was looked for and how to build it.
std::filesystem::path find_worker();

struct worker_options {
  std::filesystem::path executable;
  std::string python;        // --python PATH, "" for none
  // A debugger may stop: the worker's stdin and stdout are ours (the terminal), so pdb
  // reads and writes it with readline. Otherwise stdin is /dev/null and its stdout goes
  // to our stderr, keeping ours for the result.
  bool interactive = false;
  // A pseudo-terminal's slave device (/dev/pts/N): the worker starts a session of its own
  // with it as controlling terminal, stdin and stdout, so Ctrl-C typed there is SIGINT
  // for the worker and pdb reads it with readline (the proxy's live debugger). Takes
  // precedence over `interactive`.
  std::string terminal;
};

// How a process ended: an exit status or a signal.
struct exit_status {
  int code = 0;    // when !signal
  int signal = 0;  // the signal that killed it, or 0
};
// "exited with status 3", "crashed (SIGSEGV)".
std::string describe(const exit_status& s);

class worker_process {
 public:
  // Throws std::runtime_error when the process cannot be started.
  explicit worker_process(const worker_options& options);
  ~worker_process();  // stops the worker if it still runs
  worker_process(const worker_process&) = delete;
  worker_process& operator=(const worker_process&) = delete;

  int socket() const;  // the parent's end
  pid_t pid() const;
  // Closes the parent's end: the worker's cue to exit.
  void close_socket();
  // Waits up to `timeout` for the worker to exit; nullopt if it still runs.
  std::optional<exit_status> wait(std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL after `grace`; returns how it ended.
  exit_status stop(std::chrono::milliseconds grace);
  // The last lines the worker wrote to stderr (at most a few KiB).
  std::string stderr_tail() const;

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace hindsight::replay
