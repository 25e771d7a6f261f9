#include "cli/run_command.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <thread>

#include "cli/data_dir.hpp"
#include "cli/duration.hpp"
#include "proxy/app_command.hpp"
#include "proxy/logging.hpp"
#include "proxy/server.hpp"
#include "proxy/supervisor.hpp"

namespace hindsight::cli {

namespace proxy = hindsight::proxy;

namespace {

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A free loopback port for an app asked to listen on TCP (--inner tcp).
std::uint16_t free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sa;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0)
    port = ntohs(sa.sin_port);
  ::close(fd);
  if (port == 0) throw std::runtime_error("cannot find a free loopback port for the app (--inner tcp)");
  return port;
}

// Drives a run from the main thread's libuv loop: signals, the drain, the app's life.
struct controller {
  uv_loop_t* loop;
  proxy::server& server;
  proxy::supervisor* supervisor = nullptr;
  std::chrono::milliseconds drain{};
  uv_signal_t sigterm{}, sigint{};
  uv_timer_t drain_timer{};
  bool started = false, shutting_down = false, finished = false;
  int exit_code = 0;
  std::chrono::steady_clock::time_point drain_deadline;

  controller(uv_loop_t* l, proxy::server& s) : loop(l), server(s) {
    uv_signal_init(loop, &sigterm);
    uv_signal_init(loop, &sigint);
    uv_timer_init(loop, &drain_timer);
    sigterm.data = sigint.data = drain_timer.data = this;
    auto on_signal = [](uv_signal_t* h, int signum) { static_cast<controller*>(h->data)->on_signal(signum); };
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
  }

  void on_signal(int signum) {
    const char* name = signum == SIGTERM ? "SIGTERM" : "SIGINT";
    if (shutting_down) {
      if (finished) {
        // Stopping the app is taking too long for the user: leave now.
        spdlog::warn("received {} again while stopping the app: exiting without waiting for it", name);
        uv_stop(loop);
        return;
      }
      spdlog::warn("received {} again: stopping now", name);
      finish();
      return;
    }
    shutting_down = true;
    if (!started) {
      spdlog::info("received {} before the app was ready: stopping", name);
      finish();
      return;
    }
    spdlog::info("received {}: no longer accepting; waiting up to {} ms for {} open connection(s)", name, drain.count(),
                 server.open_connections());
    server.begin_drain();
    drain_deadline = std::chrono::steady_clock::now() + drain;
    uv_timer_start(
        &drain_timer, [](uv_timer_t* t) { static_cast<controller*>(t->data)->poll_drain(); }, 0, 50);
  }

  void poll_drain() {
    auto open = server.open_connections();
    if (open == 0) {
      finish();
    } else if (std::chrono::steady_clock::now() >= drain_deadline) {
      spdlog::warn("{} connection(s) still open after the drain period (--drain): closing them", open);
      finish();
    }
  }

  void fail(const std::string& message) {
    std::fprintf(stderr, "hindsight: error: %s\n", message.c_str());
    exit_code = 1;
    finish();
  }

  void finish() {
    if (finished) return;
    finished = true;
    uv_timer_stop(&drain_timer);
    server.stop();
    auto close_own = [this] {
      for (auto* h : {reinterpret_cast<uv_handle_t*>(&sigterm), reinterpret_cast<uv_handle_t*>(&sigint),
                      reinterpret_cast<uv_handle_t*>(&drain_timer)})
        if (!uv_is_closing(h)) uv_close(h, nullptr);
    };
    if (supervisor) supervisor->stop(close_own);
    else close_own();
  }
};

}  // namespace

void add_run_command(CLI::App& app, run_options& o) {
  auto* run = app.add_subcommand("run", "Proxy every request to the app, supervising it when its command follows --");
  run->add_option("--listen", o.listen,
                  "Public address: unix:/path, HOST:PORT, tcp:HOST:PORT or [v6]:PORT "
                  "(default unix:$SOCKET, else 127.0.0.1:$PORT, else 127.0.0.1:8000)");
  run->add_option("--upstream", o.upstream, "Address of an app that is already running (instead of a command)");
  run->add_option("--inner", o.inner,
                  "Where the supervised app listens: ADDR, or 'tcp' for a free loopback port (default unix:DATA/app.sock)");
  run->add_option("--data", o.data, "Data directory (default $HINDSIGHT_DATA or ./.hindsight)");
  run->add_option("--threads", o.threads, "Proxy threads (default: one per core)")->check(CLI::Range(1u, 256u));
  run->add_option("--header-timeout", o.header_timeout, "Time for a request head to arrive (slow clients)")->capture_default_str();
  run->add_option("--idle-timeout", o.idle_timeout, "Idle time before a keep-alive connection is closed")->capture_default_str();
  run->add_option("--body-timeout", o.body_timeout, "Longest pause while a body is sent to or from the client")->capture_default_str();
  run->add_option("--connect-timeout", o.connect_timeout, "Time to connect to the app")->capture_default_str();
  run->add_option("--upstream-timeout", o.upstream_timeout, "Time for the app to answer (504 after it)")->capture_default_str();
  run->add_option("--drain", o.drain, "On SIGTERM/SIGINT, time for in-flight exchanges to finish")->capture_default_str();
  run->add_option("--stop-timeout", o.stop_timeout, "Time between SIGTERM and SIGKILL when stopping the app")->capture_default_str();
  run->add_option("--ready-timeout", o.ready_timeout, "Time for the app to start listening")->capture_default_str();
  run->add_option("--max-connections", o.max_connections, "Open client connections before answering 503")
      ->capture_default_str()->check(CLI::PositiveNumber);
  run->add_option("--max-header-size", o.max_header_size, "Largest request head in bytes (431 beyond)")
      ->capture_default_str()->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 20));
  run->add_option("--max-headers", o.max_headers, "Most header fields in a request (431 beyond)")
      ->capture_default_str()->check(CLI::Range(std::size_t{1}, std::size_t{10'000}));
  run->add_option("--log-format", o.log_format, "text or json")->capture_default_str()->check(CLI::IsMember({"text", "json"}));
  run->add_option("--log-level", o.log_level, "trace, debug, info, warn, error or off (access lines are info)")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  run->add_option("--access-log", o.access_log, "on or off: one info line per exchange (nginx's access_log)")
      ->capture_default_str()->check(CLI::IsMember({"on", "off"}));
  run->add_option("command", o.command, "The app's command, after --, run as given (no shell)");
  run->footer(
      "Examples:\n"
      "  hindsight run -- gunicorn -w 4 -b unix:$SOCKET myapp.wsgi:application\n"
      "  hindsight run --listen 127.0.0.1:8000 --upstream unix:/run/app.sock");
}

int run(const run_options& o) {
  proxy::proxy_options po;
  proxy::supervisor_options so;
  std::chrono::milliseconds drain{};
  try {
    po.listen = o.listen.empty() ? proxy::default_listen_address(std::getenv("SOCKET"), std::getenv("PORT"))
                                 : proxy::parse_address(o.listen);
    po.header_timeout = parse_duration(o.header_timeout);
    po.idle_timeout = parse_duration(o.idle_timeout);
    po.body_timeout = parse_duration(o.body_timeout);
    po.connect_timeout = parse_duration(o.connect_timeout);
    po.upstream_timeout = parse_duration(o.upstream_timeout);
    drain = parse_duration(o.drain);
    so.stop_timeout = parse_duration(o.stop_timeout);
    so.ready_timeout = parse_duration(o.ready_timeout);
    if (o.command.empty() == o.upstream.empty())
      throw usage_error(o.command.empty()
                            ? "nothing to proxy to: give the app's command after -- (hindsight run -- gunicorn -b unix:$SOCKET myapp.wsgi), "
                              "or --upstream ADDR for an app that is already running"
                            : "give either the app's command after -- or --upstream ADDR, not both");
    if (!o.upstream.empty()) po.upstream = proxy::parse_address(o.upstream);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "hindsight: error: %s\n", e.what());
    return 2;
  } catch (const usage_error& e) {
    std::fprintf(stderr, "hindsight: error: %s\n", e.what());
    return 2;
  }
  po.max_connections = o.max_connections;
  po.limits.max_head_size = o.max_header_size;
  po.limits.max_request_line = std::min<std::size_t>(8192, o.max_header_size);
  po.limits.max_fields = o.max_headers;
  po.threads = o.threads ? o.threads : std::max(1u, std::thread::hardware_concurrency());

  proxy::configure_logging(o.log_format == "json" ? proxy::log_format::json : proxy::log_format::text, o.log_level,
                           o.access_log == "on");
  ::signal(SIGPIPE, SIG_IGN);

  std::string data;
  try {
    data = prepare_data_dir(o.data.empty() ? default_data_dir() : o.data);
    if (!o.command.empty()) {
      if (o.inner.empty()) {
        auto path = data + "/app.sock";
        if (path.size() > 107)
          throw std::runtime_error("the app's socket path '" + path + "' is longer than a unix socket allows (107 bytes): "
                                   "use a shorter --data directory, or --inner with another address");
        po.upstream = proxy::parse_address("unix:" + path);
      } else if (o.inner == "tcp") {
        po.upstream = proxy::parse_address("127.0.0.1:" + std::to_string(free_loopback_port()));
      } else {
        po.upstream = proxy::parse_address(o.inner);
      }
      if (po.upstream == po.listen)
        throw std::runtime_error("--inner " + po.upstream.to_string() + " is the public address itself; the app needs another one");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hindsight: error: %s\n", e.what());
    return 1;
  }

  std::unique_ptr<proxy::supervisor> supervisor;
  proxy::server server(po, [&supervisor]() { return supervisor ? supervisor->unavailable_hint() : std::string(); });
  try {
    server.bind();
  } catch (const proxy::startup_error& e) {
    std::fprintf(stderr, "hindsight: error: %s\n", e.what());
    return 1;
  }

  uv_loop_t loop;
  uv_loop_init(&loop);
  controller ctl(&loop, server);
  ctl.drain = drain;
  auto announce = [&] {
    ctl.started = true;
    spdlog::info("ready: proxying {} → {} ({} thread{}, data in {})", po.listen.to_string(), po.upstream.to_string(),
                 po.threads, po.threads == 1 ? "" : "s", data);
  };

  if (!o.command.empty()) {
    auto cmd = proxy::prepare_app_command(o.command, po.listen, po.upstream);
    for (auto& r : cmd.rewrites) spdlog::info("rewrote the app's argument {} (the public address is hindsight's)", r);
    so.argv = cmd.argv;
    so.env = cmd.env;
    so.inner = po.upstream;
    supervisor = std::make_unique<proxy::supervisor>(&loop, so);
    ctl.supervisor = supervisor.get();
    supervisor->start(
        [&] {
          server.start();
          announce();
        },
        [&](std::string message) { ctl.fail(message); });
  } else {
    server.start();
    announce();
  }

  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return ctl.exit_code;
}

}  // namespace hindsight::cli
