#include "replay/worker_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

extern char** environ;

namespace hindsight::replay {
namespace {

// The descriptor the worker finds its end of the socket on (--fd).
constexpr int worker_socket_fd = 3;
constexpr std::size_t tail_bytes = 8192;

std::string errno_text() { return std::strerror(errno); }

// Moves a descriptor above the ones the child's file actions write (0-3), close-on-exec,
// so that no dup2 in the child clobbers another source descriptor.
int high_fd(int fd) {
  int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 10);
  int saved = errno;
  ::close(fd);
  if (moved < 0) throw std::runtime_error("cannot set up the worker's descriptors: " + std::string(std::strerror(saved)));
  return moved;
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGPIPE: return "SIGPIPE";
    case SIGHUP: return "SIGHUP";
    case SIGQUIT: return "SIGQUIT";
    default: return nullptr;
  }
}

}  // namespace

std::filesystem::path find_worker() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find hindsight-worker: /proc/self/exe is unreadable (" + ec.message() + ")");
  auto worker = self.parent_path() / "hindsight-worker";
  if (::access(worker.c_str(), X_OK) != 0) {
    throw std::runtime_error("hindsight-worker was not found next to hindsight (looked for " + worker.string() +
                             "): build it with `cmake --build BUILD_DIR --target hindsight-worker` (it needs "
                             "python3-dev and pybind11-dev) and keep it in the same directory as hindsight");
  }
  return worker;
}

std::string describe(const exit_status& s) {
  if (s.signal) {
    const char* name = signal_name(s.signal);
    return std::string("crashed (") + (name ? name : ("signal " + std::to_string(s.signal)).c_str()) + ")";
  }
  return "exited with status " + std::to_string(s.code);
}

struct worker_process::impl {
  pid_t pid = -1;
  int socket = -1;
  int stderr_read = -1;
  std::optional<exit_status> ended;
  std::thread relay;
  std::atomic<bool> stop_relay{false};
  std::atomic<bool> relay_done{false};
  mutable std::mutex tail_mutex;
  std::string tail;

  // Copies the worker's stderr to ours as it comes, keeping the tail.
  void relay_stderr() {
    relay_until_end();
    relay_done = true;
  }

  void relay_until_end() {
    char buf[4096];
    for (;;) {
      pollfd p{stderr_read, POLLIN, 0};
      int ready = ::poll(&p, 1, 100);
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) {
        if (stop_relay) return;
        continue;
      }
      ssize_t n = ::read(stderr_read, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) return;
      for (ssize_t off = 0; off < n;) {
        ssize_t w = ::write(STDERR_FILENO, buf + off, static_cast<std::size_t>(n - off));
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        off += w;
      }
      std::lock_guard lock(tail_mutex);
      tail.append(buf, static_cast<std::size_t>(n));
      if (tail.size() > 2 * tail_bytes) tail.erase(0, tail.size() - tail_bytes);
    }
  }
};

worker_process::worker_process(const worker_options& o) : impl_(std::make_unique<impl>()) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
    throw std::runtime_error("cannot create the worker's socket: " + errno_text());
  impl_->socket = high_fd(pair[0]);
  int child_socket = high_fd(pair[1]);

  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(child_socket);
    throw std::runtime_error("cannot create the worker's stderr pipe: " + errno_text());
  }
  impl_->stderr_read = high_fd(err_pipe[0]);
  int child_stderr = high_fd(err_pipe[1]);

  int dev_null = -1, child_stdout = -1;
  const bool on_terminal = !o.terminal.empty();
  if (!o.interactive && !on_terminal) {
    dev_null = high_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    child_stdout = high_fd(::dup(STDERR_FILENO));
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (on_terminal) {
    // After setsid (POSIX_SPAWN_SETSID, done before the file actions), opening the
    // terminal without O_NOCTTY makes it the new session's controlling terminal.
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, o.terminal.c_str(), O_RDWR, 0);
    posix_spawn_file_actions_adddup2(&actions, STDIN_FILENO, STDOUT_FILENO);
  } else if (!o.interactive) {
    posix_spawn_file_actions_adddup2(&actions, dev_null, STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, child_stdout, STDOUT_FILENO);
  }
  posix_spawn_file_actions_adddup2(&actions, child_stderr, STDERR_FILENO);
  posix_spawn_file_actions_adddup2(&actions, child_socket, worker_socket_fd);
  // Nothing else of ours: a proxy's client connections, other workers' sockets, the
  // attach socket (Asio opens them without close-on-exec).
  posix_spawn_file_actions_addclosefrom_np(&actions, worker_socket_fd + 1);

  // The worker starts with default signal handling and an empty mask, whatever ours.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
  if (on_terminal) flags |= POSIX_SPAWN_SETSID;
  posix_spawnattr_setflags(&attr, flags);

  std::string exe = o.executable.string();
  std::vector<std::string> args{exe, "--fd", std::to_string(worker_socket_fd)};
  if (!o.python.empty()) {
    args.push_back("--python");
    args.push_back(o.python);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int rc = ::posix_spawn(&impl_->pid, exe.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(child_socket);
  ::close(child_stderr);
  if (dev_null >= 0) ::close(dev_null);
  if (child_stdout >= 0) ::close(child_stdout);
  if (rc != 0) {
    ::close(impl_->socket);
    ::close(impl_->stderr_read);
    impl_->socket = impl_->stderr_read = -1;
    throw std::runtime_error("cannot start " + exe + ": " + std::strerror(rc));
  }
  impl_->relay = std::thread([p = impl_.get()] { p->relay_stderr(); });
}

worker_process::~worker_process() {
  if (!impl_) return;
  close_socket();
  if (impl_->pid > 0 && !impl_->ended && !wait(std::chrono::milliseconds(2000))) stop(std::chrono::milliseconds(1000));
  // The worker has exited: what it wrote is in the pipe, read it to the end. A
  // descendant that still holds the pipe open must not keep us here.
  auto give_up = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  while (!impl_->relay_done && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  impl_->stop_relay = true;
  if (impl_->relay.joinable()) impl_->relay.join();
  if (impl_->stderr_read >= 0) ::close(impl_->stderr_read);
}

int worker_process::socket() const { return impl_->socket; }
pid_t worker_process::pid() const { return impl_->pid; }

void worker_process::close_socket() {
  if (impl_->socket >= 0) ::close(impl_->socket);
  impl_->socket = -1;
}

std::optional<exit_status> worker_process::wait(std::chrono::milliseconds timeout) {
  if (impl_->ended) return impl_->ended;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(impl_->pid, &status, WNOHANG);
    if (r == impl_->pid) {
      exit_status s;
      if (WIFSIGNALED(status)) s.signal = WTERMSIG(status);
      else s.code = WEXITSTATUS(status);
      impl_->ended = s;
      return s;
    }
    if (r < 0 && errno != EINTR) {
      impl_->ended = exit_status{.code = -1};
      return impl_->ended;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

exit_status worker_process::stop(std::chrono::milliseconds grace) {
  if (impl_->ended) return *impl_->ended;
  ::kill(impl_->pid, SIGTERM);
  if (auto s = wait(grace)) return *s;
  ::kill(impl_->pid, SIGKILL);
  if (auto s = wait(std::chrono::milliseconds(5000))) return *s;
  return exit_status{.signal = SIGKILL};
}

std::string worker_process::stderr_tail() const {
  std::lock_guard lock(impl_->tail_mutex);
  std::string_view t = impl_->tail;
  if (t.size() > tail_bytes) t = t.substr(t.size() - tail_bytes);
  return std::string(t);
}

}  // namespace hindsight::replay
