#include "proxy/supervisor.hpp"

#include "proxy/logging.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <unistd.h>
#include <uv.h>

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <atomic>
#include <mutex>

extern char** environ;

namespace hindsight::proxy {

std::string describe_exit(long long status, int signal) {
  if (signal != 0) {
    const char* name = sigabbrev_np(signal);
    return std::string("was killed by ") + (name ? std::string("SIG") + name : "signal " + std::to_string(signal));
  }
  return "exited with status " + std::to_string(status);
}

namespace {

constexpr std::size_t stderr_tail_bytes = 4096;
constexpr auto probe_interval = std::chrono::milliseconds(100);
// A run this long counts as healthy: the next crash restarts quickly again.
constexpr auto healthy_run = std::chrono::seconds(30);

// Whether something accepts connections at `a` now. Loopback and unix-socket connects
// complete or fail at once, so a blocking connect is fine on the loop.
bool accepts_connections(const address& a) {
  int fd = -1;
  int rc = -1;
  if (a.is_unix()) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, a.path.c_str(), sizeof sa.sun_path - 1);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  } else if (a.host.find(':') != std::string::npos) {
    fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(a.port);
    ::inet_pton(AF_INET6, a.host.c_str(), &sa.sin6_addr);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  } else {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(a.port);
    if (::inet_pton(AF_INET, a.host == "localhost" ? "127.0.0.1" : a.host.c_str(), &sa.sin_addr) != 1)
      ::inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  }
  if (fd >= 0) ::close(fd);
  return rc == 0;
}


}  // namespace

struct supervisor::impl {
  enum class phase { idle, starting, running, backing_off, stopping, stopped };

  impl(uv_loop_t* l, supervisor_options o) : loop(l), options(std::move(o)) {
    uv_timer_init(loop, &probe_timer);
    uv_timer_init(loop, &restart_timer);
    uv_timer_init(loop, &kill_timer);
    probe_timer.data = restart_timer.data = kill_timer.data = this;
  }

  uv_loop_t* loop;
  supervisor_options options;
  std::function<void()> on_ready;
  std::function<void(std::string)> on_fatal;
  std::function<void()> on_stopped;

  uv_process_t process{};
  bool process_alive = false;
  int pid = 0;
  uv_timer_t probe_timer{}, restart_timer{}, kill_timer{};
  int handles_open = 3;  // the three timers; pipes and the process count while open

  bool ever_ready = false;
  bool fatal_reported = false;
  std::string pending_fatal;   // reported once the app's stderr is read to the end
  int open_pipes = 0;
  std::vector<uv_pipe_t*> pipes;  // the app's stderr, one per run still open
  std::chrono::steady_clock::time_point spawned_at;
  bool warned_not_ready = false;
  std::chrono::milliseconds backoff{1000};
  std::string tail;  // the last bytes the app wrote to stderr

  std::atomic<std::uint64_t> exits{0};
  std::atomic<int> running_pid{0};  // for other threads: the app's pid while it runs
  mutable std::mutex state_mutex;
  phase state = phase::idle;
  std::string last_exit;  // for the hint
  std::chrono::steady_clock::time_point restart_at;

  // Signals the app's whole process group (gunicorn's master and workers). Never with
  // pid 0: kill(0, ...) would signal hindsight's own group.
  void signal_group(int sig) const {
    if (pid > 0) ::kill(-pid, sig);
  }

  void set_state(phase p) {
    std::lock_guard lock(state_mutex);
    state = p;
  }

  std::string stderr_tail() const {
    if (tail.empty()) return "(the app wrote nothing to stderr)";
    auto t = tail;
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
    // The last few lines are what explains a failure; keep at most ten.
    std::size_t lines = 0, pos = t.size();
    while (pos > 0 && lines < 10) {
      auto nl = t.rfind('\n', pos - 1);
      ++lines;
      if (nl == std::string::npos) {
        pos = 0;
        break;
      }
      pos = nl;
    }
    return "  | " + [&] {
      std::string s = t.substr(pos == 0 ? 0 : pos + 1), out;
      for (char c : s) {
        out += c;
        if (c == '\n') out += "  | ";
      }
      return out;
    }();
  }

  void fatal(std::string message) {
    if (fatal_reported) return;
    pending_fatal = std::move(message);
    // Wait for the app's last stderr bytes (its explanation) unless the pipe is closed.
    if (open_pipes == 0) report_fatal();
  }

  void report_fatal() {
    if (fatal_reported || pending_fatal.empty()) return;
    fatal_reported = true;
    auto message = pending_fatal + "\nthe app's last lines of stderr:\n" + stderr_tail();
    if (on_fatal) on_fatal(message);
  }

  void spawn() {
    // A socket file left behind by a previous run would only confuse the probe.
    if (options.inner.is_unix()) ::unlink(options.inner.path.c_str());

    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
      std::string_view kv(*e);
      auto name = kv.substr(0, kv.find('='));
      bool overridden = false;
      for (auto& [k, v] : options.env) overridden = overridden || name == k;
      if (!overridden) env_strings.emplace_back(kv);
    }
    for (auto& [k, v] : options.env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp, args;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    for (auto& a : options.argv) args.push_back(a.data());
    args.push_back(nullptr);

    auto* pipe = new uv_pipe_t;
    uv_pipe_init(loop, pipe, 0);
    pipe->data = this;
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = 1;
    stdio[2].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
    stdio[2].data.stream = reinterpret_cast<uv_stream_t*>(pipe);

    uv_process_options_t po{};
    po.file = args[0];
    po.args = args.data();
    po.env = envp.data();
    po.stdio = stdio;
    po.stdio_count = 3;
    // Its own process group: a Ctrl-C in the terminal reaches hindsight only, which then
    // stops the app in order; and the whole group (gunicorn's workers) can be killed.
    po.flags = UV_PROCESS_DETACHED;
    po.exit_cb = [](uv_process_t* p, int64_t status, int signal) {
      static_cast<impl*>(p->data)->on_exit(status, signal);
    };
    process.data = this;
    spawned_at = std::chrono::steady_clock::now();
    warned_not_ready = false;
    int rc = uv_spawn(loop, &process, &po);
    if (rc != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(pipe), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
      // uv_spawn leaves an initialised handle to close even when it fails.
      ++handles_open;
      uv_close(reinterpret_cast<uv_handle_t*>(&process), [](uv_handle_t* h) { static_cast<impl*>(h->data)->handle_closed(); });
      std::string why = "cannot start the app '" + options.argv[0] + "': " + uv_strerror(rc);
      if (rc == UV_ENOENT) why += " (is it installed, and on PATH?)";
      else if (rc == UV_EACCES) why += " (is it executable?)";
      if (!ever_ready) {
        fatal(why);
      } else {
        spdlog::error("{}", why);
        schedule_restart();
      }
      return;
    }
    ++handles_open;
    process_alive = true;
    pid = process.pid;
    running_pid.store(pid, std::memory_order_relaxed);
    ++open_pipes;
    ++handles_open;
    pipes.push_back(pipe);
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(pipe),
        [](uv_handle_t*, size_t, uv_buf_t* buf) {
          static char storage[64 * 1024];
          *buf = uv_buf_init(storage, sizeof storage);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
          auto* self = static_cast<impl*>(s->data);
          if (n > 0) self->on_stderr(std::string_view(buf->base, static_cast<std::size_t>(n)));
          if (n < 0) {
            uv_close(reinterpret_cast<uv_handle_t*>(s), [](uv_handle_t* h) {
              auto* self = static_cast<impl*>(h->data);
              std::erase(self->pipes, reinterpret_cast<uv_pipe_t*>(h));
              delete reinterpret_cast<uv_pipe_t*>(h);
              --self->open_pipes;
              if (self->open_pipes == 0) self->report_fatal();
              self->handle_closed();
            });
          }
        });
    set_state(phase::starting);
    spdlog::info("started the app (pid {}): {}", pid, join_argv());
    uv_timer_start(
        &probe_timer, [](uv_timer_t* t) { static_cast<impl*>(t->data)->probe(); }, 0,
        static_cast<uint64_t>(probe_interval.count()));
  }

  std::string join_argv() const {
    std::string s;
    for (auto& a : options.argv) {
      if (!s.empty()) s += ' ';
      s += a;
    }
    return s;
  }

  void on_stderr(std::string_view bytes) {
    // The app's stderr passes through unchanged; a copy of its end explains failures.
    std::size_t off = 0;
    while (off < bytes.size()) {
      auto n = ::write(2, bytes.data() + off, bytes.size() - off);
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    tail.append(bytes);
    if (tail.size() > stderr_tail_bytes) tail.erase(0, tail.size() - stderr_tail_bytes);
  }

  void probe() {
    if (accepts_connections(options.inner)) {
      uv_timer_stop(&probe_timer);
      set_state(phase::running);
      backoff = std::chrono::milliseconds(1000);
      if (!ever_ready) {
        ever_ready = true;
        if (on_ready) on_ready();
      } else {
        spdlog::info("the app accepts connections again at {}", options.inner.to_string());
      }
      return;
    }
    auto waited = std::chrono::steady_clock::now() - spawned_at;
    if (waited < options.ready_timeout) return;
    if (!ever_ready) {
      uv_timer_stop(&probe_timer);
      fatal("the app did not start listening on " + options.inner.to_string() + " within " +
            duration_text(options.ready_timeout) +
            " (hindsight set SOCKET/PORT and rewrote the arguments that named the public address; "
            "the app must listen where they say; see --ready-timeout for a slow start)");
      terminate();
    } else if (!warned_not_ready) {
      warned_not_ready = true;
      spdlog::warn("the restarted app does not listen on {} after {}; still waiting", options.inner.to_string(),
                   duration_text(options.ready_timeout));
    }
  }

  void terminate() {
    if (process_alive) uv_process_kill(&process, SIGTERM);
    uv_timer_start(
        &kill_timer,
        [](uv_timer_t* t) {
          auto* self = static_cast<impl*>(t->data);
          if (self->process_alive) {
            spdlog::warn("the app did not stop within {}: killing its process group", duration_text(self->options.stop_timeout));
            self->signal_group(SIGKILL);
          }
        },
        static_cast<uint64_t>(options.stop_timeout.count()), 0);
  }

  void on_exit(int64_t status, int signal) {
    exits.fetch_add(1, std::memory_order_relaxed);
    process_alive = false;
    uv_timer_stop(&probe_timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&process), [](uv_handle_t* h) { static_cast<impl*>(h->data)->handle_closed(); });
    auto how = describe_exit(status, signal);
    // What the app leaves behind (gunicorn workers whose master died) goes with it, now,
    // while the group is known to be the app's: later its id could name another group.
    signal_group(SIGKILL);
    pid = 0;
    running_pid.store(0, std::memory_order_relaxed);
    if (state == phase::stopping || fatal_reported || !pending_fatal.empty()) {
      uv_timer_stop(&kill_timer);
      if (state == phase::stopping) spdlog::info("the app {}", how);
      close_all();
      return;
    }
    {
      std::lock_guard lock(state_mutex);
      last_exit = how;
    }
    if (!ever_ready) {
      fatal("the app " + how + " before it listened on " + options.inner.to_string());
      close_all();
      return;
    }
    auto ran = std::chrono::steady_clock::now() - spawned_at;
    if (ran >= healthy_run) backoff = std::chrono::milliseconds(1000);
    spdlog::warn("the app (pid {}) {}; restarting it in {}", process.pid, how, duration_text(backoff));
    schedule_restart();
  }

  void schedule_restart() {
    {
      std::lock_guard lock(state_mutex);
      state = phase::backing_off;
      restart_at = std::chrono::steady_clock::now() + backoff;
    }
    uv_timer_start(
        &restart_timer,
        [](uv_timer_t* t) { static_cast<impl*>(t->data)->spawn(); },
        static_cast<uint64_t>(backoff.count()), 0);
    backoff = std::min(backoff * 2, options.max_backoff);
  }

  void close_all() {
    if (state == phase::stopped) return;
    if (process_alive) return;  // on_exit calls again
    set_state(phase::stopped);
    for (auto* t : {&probe_timer, &restart_timer, &kill_timer})
      if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(t)))
        uv_close(reinterpret_cast<uv_handle_t*>(t), [](uv_handle_t* h) { static_cast<impl*>(h->data)->handle_closed(); });
    if (on_stopped) close_pipes();
  }

  // A process that left the app's group may still hold its stderr: when stopping, stop
  // reading rather than wait for an end that may never come. (After a failed start the
  // pipes stay open until their end, so the last lines reach the error message.)
  void close_pipes() {
    for (auto* p : std::vector<uv_pipe_t*>(pipes))
      if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(p)))
        uv_close(reinterpret_cast<uv_handle_t*>(p), [](uv_handle_t* h) {
          auto* self = static_cast<impl*>(h->data);
          std::erase(self->pipes, reinterpret_cast<uv_pipe_t*>(h));
          delete reinterpret_cast<uv_pipe_t*>(h);
          --self->open_pipes;
          self->handle_closed();
        });
  }

  void handle_closed() {
    if (--handles_open == 0 && on_stopped) {
      auto cb = std::move(on_stopped);
      on_stopped = nullptr;
      cb();
    }
  }
};

supervisor::supervisor(uv_loop_s* loop, supervisor_options options)
    : impl_(std::make_unique<impl>(loop, std::move(options))) {}

supervisor::~supervisor() = default;

void supervisor::start(std::function<void()> on_ready, std::function<void(std::string)> on_fatal) {
  impl_->on_ready = std::move(on_ready);
  impl_->on_fatal = std::move(on_fatal);
  impl_->spawn();
}

void supervisor::stop(std::function<void()> on_stopped) {
  auto& s = *impl_;
  s.on_stopped = std::move(on_stopped);
  bool alive = s.process_alive;
  s.set_state(impl::phase::stopping);
  uv_timer_stop(&s.probe_timer);
  uv_timer_stop(&s.restart_timer);
  if (alive) {
    spdlog::info("stopping the app (pid {}): SIGTERM, SIGKILL after {}", s.pid, duration_text(s.options.stop_timeout));
    s.terminate();
  } else {
    s.close_all();
    s.close_pipes();
    if (s.handles_open == 0 && s.on_stopped) {
      auto cb = std::move(s.on_stopped);
      s.on_stopped = nullptr;
      cb();
    }
  }
}

// Whether `pid` has exited but not yet been reaped: /proc/PID/stat's state is Z.
static bool is_zombie(int pid) {
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
  std::FILE* f = std::fopen(path, "r");
  if (!f) return true;  // gone already
  char buf[512];
  auto n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  // "pid (comm) S ...": comm may hold spaces and parentheses, so look after the last ')'.
  const char* close = std::strrchr(buf, ')');
  return close && close[1] == ' ' && close[2] == 'Z';
}

std::uint64_t supervisor::exits() const { return impl_->exits.load(std::memory_order_relaxed); }

std::uint64_t supervisor::exits_including_dying() const {
  // The loop counts an exit when it reaps the app, which may be a moment after a proxy
  // thread saw the app's connections close. An app that has died but is not reaped yet
  // counts as exited already, so that the exchange it cut short says so.
  auto pid = impl_->running_pid.load(std::memory_order_relaxed);
  auto n = impl_->exits.load(std::memory_order_relaxed);
  if (pid > 0 && is_zombie(pid)) ++n;
  return n;
}

std::string supervisor::unavailable_hint() const {
  std::lock_guard lock(impl_->state_mutex);
  switch (impl_->state) {
    case impl::phase::starting:
      return impl_->last_exit.empty() ? "the app is starting and does not listen yet"
                                      : "the app " + impl_->last_exit + " and is starting again";
    case impl::phase::backing_off: {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(impl_->restart_at - std::chrono::steady_clock::now());
      return "the app " + impl_->last_exit + "; hindsight restarts it in " + duration_text(std::max(left, std::chrono::milliseconds(0)));
    }
    case impl::phase::stopping:
    case impl::phase::stopped: return "the app is stopped";
    default: return "";
  }
}

}  // namespace hindsight::proxy
