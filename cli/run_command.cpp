#include "cli/run_command.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <ctime>
#include <cstdlib>
#include <memory>
#include <thread>

#include "cli/byte_size.hpp"
#include "cli/control_server.hpp"
#include "cli/data_dir.hpp"
#include "cli/duration.hpp"
#include "cli/rule_watcher.hpp"
#include "debug/live_debugger.hpp"
#include "proxy/app_command.hpp"
#include "proxy/app_interpreter.hpp"
#include "proxy/logging.hpp"
#include "proxy/server.hpp"
#include "proxy/supervisor.hpp"
#include "proxy/token.hpp"
#include "replay/app_spec.hpp"
#include "replay/worker_process.hpp"
#include "store/error.hpp"
#include "store/writer.hpp"

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

// What `hindsight status` asks a running proxy about.
struct control_facts {
  const proxy::proxy_options& proxy;
  const store::writer_options& store;
  const store::capture_writer* writer;
  const proxy::supervisor* supervisor;
  std::chrono::system_clock::time_point started;
  const std::vector<std::string>& command;  // the supervised app's command line, as given
  const debug::live_debugger* debugger;     // none when live debugging is off
  const std::string& debug_off;             // then: why
  const std::string& debug_app;             // the app debug workers import
};

std::string iso_time(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string control_answer(std::string_view request, const control_facts& f) {
  namespace json = boost::json;
  boost::system::error_code ec;
  auto parsed = json::parse(request, ec);
  const json::string* command = nullptr;
  if (!ec && parsed.is_object())
    if (auto* c = parsed.as_object().if_contains("command")) command = c->if_string();
  if (!command) return json::serialize(json::object{{"error", "expected one JSON line such as {\"command\":\"status\"}"}});
  if (*command != "status") return json::serialize(json::object{{"error", "unknown command '" + std::string(*command) + "'"}});

  using namespace std::chrono;
  const auto& cp = f.proxy.capture;
  // The retention in force: the writer may have lowered the configured one (--store-max-size).
  const auto& keep = f.writer ? f.writer->options().keep : f.store.keep;
  json::object capture{{"enabled", cp.enabled},
                       {"statuses", proxy::status_ranges_text(cp.statuses)},
                       {"slow_ms", cp.slow ? json::value(cp.slow->count()) : json::value(nullptr)},
                       {"sample", cp.sample},
                       {"request_body_limit", cp.request_body_limit},
                       {"response_body_limit", cp.response_body_limit},
                       {"queue_capacity", f.store.queue_capacity},
                       {"queue_length", f.writer ? f.writer->stats().queue_length : 0}};
  json::object writer;
  if (f.writer) {
    auto st = f.writer->stats();
    json::object dropped;
    for (std::size_t i = 0; i < st.dropped.size(); ++i)
      dropped[store::to_string(static_cast<store::drop_reason>(i))] = st.dropped[i];
    writer = {{"stored", st.stored}, {"dropped", std::move(dropped)}, {"pruned", st.pruned}, {"last_error", st.last_error}};
  }
  // argv and cwd let `hindsight replay` infer the app (module, --chdir) from the command.
  json::object app{{"supervised", f.supervisor != nullptr}, {"restarts", f.supervisor ? f.supervisor->exits() : 0}};
  if (f.supervisor) {
    json::array argv;
    for (const auto& a : f.command) argv.push_back(json::string(a));
    app["argv"] = std::move(argv);
    std::error_code cwd_error;
    auto cwd = std::filesystem::current_path(cwd_error);
    app["cwd"] = cwd_error ? json::value(nullptr) : json::value(cwd.string());
    // The app inherits this process's environment: its PATH and VIRTUAL_ENV.
    const char* path_env = std::getenv("PATH");
    const char* virtual_env = std::getenv("VIRTUAL_ENV");
    auto python = proxy::app_interpreter(f.command, cwd_error ? std::string() : cwd.string(),
                                         path_env ? path_env : "/usr/local/bin:/usr/bin:/bin",
                                         virtual_env ? virtual_env : "");
    app["python"] = python ? json::value(*python) : json::value(nullptr);
  }
  json::object debug{{"enabled", f.debugger != nullptr}};
  if (!f.debugger) {
    debug["off_reason"] = f.debug_off;
  } else {
    debug["app"] = f.debug_app;
    if (auto st = f.debugger->current_stats()) {
      debug["workers"] = st->workers;
      debug["warm"] = st->warm;
      debug["busy"] = st->busy;
      debug["terminals_waiting"] = st->terminals_waiting;
      debug["sessions"] = st->sessions;
    }
  }
  json::object reply{
      {"pid", ::getpid()},
      {"version", HINDSIGHT_VERSION},
      {"started", iso_time(f.started)},
      {"uptime_s", duration<double>(system_clock::now() - f.started).count()},
      {"listen", f.proxy.listen.to_string()},
      {"upstream", f.proxy.upstream.to_string()},
      {"app", app},
      {"capture", std::move(capture)},
      {"writer", f.writer ? json::value(std::move(writer)) : json::value(nullptr)},
      {"retention",
       {{"rows", keep.rows}, {"bytes", keep.bytes}, {"days", duration<double>(keep.age).count() / 86400}}},
      {"database", f.writer ? json::value(f.store.database.string()) : json::value(nullptr)},
      {"debug", std::move(debug)}};
  return json::serialize(reply);
}

// Drives a run from the main thread's libuv loop: signals, the drain, the app's life.
struct controller {
  uv_loop_t* loop;
  proxy::server& server;
  proxy::supervisor* supervisor = nullptr;
  control_server* control = nullptr;
  debug::live_debugger* debugger = nullptr;
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
    // A developer at a prompt would hold the drain to its end: debug sessions end now,
    // their clients answered and their terminals told.
    if (debugger) debugger->stop(std::string("hindsight is stopping (") + name + "): the debug session ended");
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
    if (debugger) debugger->stop("hindsight is stopping: the debug session ended");
    server.stop();
    auto close_own = [this] {
      for (auto* h : {reinterpret_cast<uv_handle_t*>(&sigterm), reinterpret_cast<uv_handle_t*>(&sigint),
                      reinterpret_cast<uv_handle_t*>(&drain_timer)})
        if (!uv_is_closing(h)) uv_close(h, nullptr);
    };
    if (control) control->close(nullptr);
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
  run->add_option("--capture", o.capture, "on or off: store failing exchanges in DATA/captures.db")
      ->capture_default_str()->check(CLI::IsMember({"on", "off"}));
  run->add_option("--capture-status", o.capture_status, "Statuses to capture, e.g. 500-599,429 or 5xx (the app's failures to answer always are)")
      ->capture_default_str();
  run->add_option("--debug-workers", o.debug_workers, "Debug workers for live debug sessions (503 while all are busy)")
      ->capture_default_str()->check(CLI::Range(1u, 64u));
  run->add_option("--debug-idle", o.debug_idle, "How long an idle debug worker is kept warm")->capture_default_str();
  run->add_option("--attach-wait", o.attach_wait,
                  "How long an open pdb prompt waits for `hindsight attach` before the request runs on")->capture_default_str();
  run->add_option("--debug-timeout", o.debug_timeout, "Longest a live debug session may hold its request once a prompt opened")
      ->capture_default_str();
  run->add_option("--debug-app", o.debug_app,
                  "The WSGI app for debug workers, MODULE:ATTR (default: inferred from the gunicorn command)");
  run->add_option("--debug-python", o.debug_python,
                  "The app's Python interpreter for debug workers (default: inferred, as `hindsight replay` does)");
  run->add_option("--capture-slow", o.capture_slow, "Also capture exchanges slower than this, e.g. 2s");
  run->add_option("--capture-sample", o.capture_sample, "Also capture this fraction of the other exchanges, 0 to 1")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  run->add_option("--capture-request-body", o.capture_request_body, "Request body bytes kept per capture (beyond: not replayable exactly)")
      ->capture_default_str();
  run->add_option("--capture-response-body", o.capture_response_body, "Response body bytes kept per capture")->capture_default_str();
  run->add_option("--capture-queue", o.capture_queue, "Captures waiting for the disk before new ones are dropped")
      ->capture_default_str()->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20));
  run->add_option("--retain-rows", o.retain_rows, "Captures kept; the oldest go first (0: no limit)")->capture_default_str();
  run->add_option("--retain-bytes", o.retain_bytes, "Bytes of captures kept, e.g. 1GiB (0: no limit)")->capture_default_str();
  run->add_option("--retain-days", o.retain_days, "Days a capture is kept (0: no limit)")->capture_default_str()->check(CLI::NonNegativeNumber);
  run->add_option("--store-max-size", o.store_max_size, "A hard cap on the database file, e.g. 200MiB: beyond it captures are dropped");
  run->add_option("--redact", o.redact, "Also scrub fields named like this (repeatable)");
  run->add_option("--keep", o.keep, "Do not scrub fields named like this default (repeatable): password, passwd, secret, api_key, "
                                    "apikey, private_key, credentials");
  run->add_option("command", o.command, "The app's command, after --, run as given (no shell)");
  run->footer(
      "Examples:\n"
      "  hindsight run -- gunicorn -w 4 -b unix:$SOCKET myapp.wsgi:application\n"
      "  hindsight run --listen 127.0.0.1:8000 --upstream unix:/run/app.sock");
}

int run(const run_options& o) {
  proxy::proxy_options po;
  proxy::supervisor_options so;
  store::writer_options wo;
  std::chrono::milliseconds drain{};
  debug::live_options lo;
  try {
    lo.idle = parse_duration(o.debug_idle);
    lo.attach_wait = parse_duration(o.attach_wait);
    lo.session_timeout = parse_duration(o.debug_timeout);
    lo.workers = o.debug_workers;
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

    auto& cp = po.capture;
    cp.enabled = o.capture == "on";
    cp.statuses = proxy::parse_status_ranges(o.capture_status);
    if (!o.capture_slow.empty()) cp.slow = parse_duration(o.capture_slow);
    cp.sample = o.capture_sample;
    cp.request_body_limit = parse_byte_size(o.capture_request_body);
    cp.response_body_limit = parse_byte_size(o.capture_response_body);
    wo.queue_capacity = o.capture_queue;
    wo.keep.rows = o.retain_rows;
    wo.keep.bytes = parse_byte_size(o.retain_bytes);
    wo.keep.age = std::chrono::seconds(static_cast<std::int64_t>(o.retain_days * 86400));
    if (!o.store_max_size.empty()) wo.max_database_bytes = parse_byte_size(o.store_max_size);
    for (auto& name : o.keep) wo.redaction.keep(name);
    for (auto& name : o.redact) wo.redaction.add(name);
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
  // A file size limit (ulimit -f) must make the store's writes fail, counted as drops, not kill the proxy.
  ::signal(SIGXFSZ, SIG_IGN);

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

  // One proxy per data directory: the control socket is claimed first, before the
  // database is opened or the app's socket replaced.
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::unique_ptr<store::capture_writer> writer;
  std::unique_ptr<rule_watcher> rules_watcher;
  auto rules = std::make_shared<proxy::rule_table>();
  std::shared_ptr<const proxy::token_secret> token_key;
  std::unique_ptr<proxy::supervisor> supervisor;
  std::shared_ptr<debug::live_debugger> debugger;
  std::string debug_off;
  const auto started = std::chrono::system_clock::now();
  control_server control(&loop, data + "/control.sock", [&](std::string_view request) {
    return control_answer(request, control_facts{po, wo, writer.get(), supervisor.get(), started, o.command, debugger.get(), debug_off, lo.app.app});
  });
  auto fail_early = [&](const char* message) {
    std::fprintf(stderr, "hindsight: error: %s\n", message);
    control.close(nullptr);
    uv_run(&loop, UV_RUN_NOWAIT);  // let the closed handles go
    uv_loop_close(&loop);
    return 1;
  };
  try {
    control.start();
    // The writer outlives the proxy threads, which hand it captures until they stop.
    if (po.capture.enabled) {
      wo.database = data + "/captures.db";
      writer = std::make_unique<store::capture_writer>(wo);
    }
    // Trigger rules live in the same store; they are loaded before the first request.
    rules_watcher = std::make_unique<rule_watcher>(data + "/captures.db", rules, po.capture.enabled);
    rules_watcher->start();
    token_key = std::make_shared<const proxy::token_secret>(proxy::load_or_create_secret(data));
  } catch (const std::exception& e) {
    return fail_early(e.what());
  }

  // Live debugging needs the worker next to this executable and the app to import.
  {
    std::string& off = debug_off;
    std::error_code cwd_error;
    auto cwd = std::filesystem::current_path(cwd_error).string();
    try {
      lo.worker.executable = replay::find_worker();
    } catch (const std::exception& e) {
      off = e.what();
    }
    if (!o.debug_app.empty()) {
      lo.app.app = o.debug_app;
      lo.app.chdir = cwd;
    } else if (!o.command.empty()) {
      auto inferred = replay::infer_from_command(o.command, cwd);
      if (inferred.found) lo.app = inferred.spec;
      else if (off.empty()) off = inferred.problem + "; give --debug-app MODULE:ATTR";
    } else if (off.empty()) {
      off = "with --upstream, hindsight does not know the app to import: give --debug-app MODULE:ATTR";
    }
    if (!o.debug_python.empty()) {
      lo.worker.python = o.debug_python;
    } else if (!o.command.empty()) {
      const char* path_env = std::getenv("PATH");
      const char* virtual_env = std::getenv("VIRTUAL_ENV");
      lo.worker.python = proxy::app_interpreter(o.command, cwd, path_env ? path_env : "/usr/local/bin:/usr/bin:/bin",
                                                virtual_env ? virtual_env : "")
                             .value_or("");
    }
    lo.upstream = po.upstream.to_string();
    lo.attach_socket = data + "/attach.sock";
    lo.request_timeout = po.upstream_timeout;
    if (off.empty()) {
      try {
        debugger = std::make_shared<debug::live_debugger>(lo);
        debugger->start();
      } catch (const std::exception& e) {
        debugger.reset();
        off = e.what();
      }
    }
    if (!off.empty()) spdlog::info("live debugging is off (debug rules forward their requests to the app): {}", off);
  }

  proxy::server_hooks hooks;
  hooks.debug = debugger;
  hooks.app_hint = [&supervisor]() { return supervisor ? supervisor->unavailable_hint() : std::string(); };
  hooks.app_exits = [&supervisor](bool thorough) {
    return !supervisor ? std::uint64_t{0} : thorough ? supervisor->exits_including_dying() : supervisor->exits();
  };
  if (writer) hooks.capture = [w = writer.get()](store::capture&& c) { w->submit(std::move(c)); };
  hooks.rules = rules;
  hooks.token_key = token_key;
  proxy::server server(po, std::move(hooks));
  try {
    server.bind();
  } catch (const proxy::startup_error& e) {
    return fail_early(e.what());
  }

  controller ctl(&loop, server);
  ctl.control = &control;
  ctl.debugger = debugger.get();
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
