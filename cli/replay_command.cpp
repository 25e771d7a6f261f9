#include "cli/replay_command.hpp"

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <charconv>
#include <exception>
#include <cstdlib>
#include <cstdio>
#include <filesystem>

#include "cli/control_client.hpp"
#include "cli/duration.hpp"
#include "cli/json_output.hpp"
#include "cli/store_options.hpp"
#include "proxy/address.hpp"
#include "replay/app_spec.hpp"
#include "replay/response_diff.hpp"
#include "replay/result_view.hpp"
#include "replay/session.hpp"
#include "replay/upstream_replay.hpp"
#include "replay/worker_request.hpp"
#include "store/queries.hpp"
#include "store/replays.hpp"
#include "store/schema.hpp"
#include "store/sqlite.hpp"

namespace hindsight::cli {
namespace {

namespace json = boost::json;

constexpr auto default_timeout = std::chrono::seconds(60);
constexpr auto debugger_timeout = std::chrono::seconds(3600);
// The exit status of a --diff whose responses differ: 1 already means the replay could not run.
constexpr int responses_differ = 3;

std::int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

std::string absolute(const std::string& path) {
  if (path.empty()) return path;
  return std::filesystem::absolute(path).lexically_normal().string();
}

// While a debugger owns the terminal, Ctrl-C belongs to pdb (the worker is in our
// process group and gets it too); the terminal's modes are restored whatever pdb and
// readline left behind, also after a timeout killed the worker mid-line.
class terminal_guard {
 public:
  explicit terminal_guard(bool active) : active_(active) {
    if (!active_) return;
    have_modes_ = ::isatty(STDIN_FILENO) && ::tcgetattr(STDIN_FILENO, &modes_) == 0;
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGINT, &ignore, &old_int_);
    ::sigaction(SIGQUIT, &ignore, &old_quit_);
  }
  ~terminal_guard() {
    if (!active_) return;
    if (have_modes_) ::tcsetattr(STDIN_FILENO, TCSADRAIN, &modes_);
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGQUIT, &old_quit_, nullptr);
  }
  terminal_guard(const terminal_guard&) = delete;
  terminal_guard& operator=(const terminal_guard&) = delete;

 private:
  bool active_;
  bool have_modes_ = false;
  termios modes_{};
  struct sigaction old_int_ {}, old_quit_ {};
};

// What the running proxy says about the app: where it listens, and its command line.
struct proxy_facts {
  bool running = false;
  std::string not_running_because;
  std::string upstream;  // "" unknown
  bool supervised = false;
  std::vector<std::string> argv;
  std::string cwd;
  std::string python;  // the interpreter the supervised app runs under, "" unknown
};

proxy_facts ask_running_proxy(const std::filesystem::path& control) {
  proxy_facts f;
  auto answer = ask_proxy(control, "status");
  if (answer.status != control_answer::state::running) {
    f.not_running_because = answer.status == control_answer::state::not_running
                                ? "no proxy runs on this data directory to say which command it supervises"
                                : "the proxy on this data directory does not answer (" + answer.problem + ")";
    return f;
  }
  f.running = true;
  if (auto* u = answer.reply.if_contains("upstream"); u && u->is_string()) f.upstream = std::string(u->as_string());
  if (auto* a = answer.reply.if_contains("app"); a && a->is_object()) {
    const auto& app = a->as_object();
    if (auto* s = app.if_contains("supervised"); s && s->is_bool()) f.supervised = s->as_bool();
    if (auto* argv = app.if_contains("argv"); argv && argv->is_array())
      for (const auto& v : argv->as_array())
        if (v.is_string()) f.argv.emplace_back(v.as_string());
    if (auto* cwd = app.if_contains("cwd"); cwd && cwd->is_string()) f.cwd = std::string(cwd->as_string());
    if (auto* py = app.if_contains("python"); py && py->is_string()) f.python = std::string(py->as_string());
  }
  return f;
}

replay::app_spec choose_app(const replay_options& o, const proxy_facts& proxy, std::int64_t id) {
  replay::app_spec spec;
  if (!o.app.empty()) {
    spec.app = o.app;
  } else {
    std::string why;
    if (!proxy.running) {
      why = proxy.not_running_because;
    } else if (!proxy.supervised) {
      why = "the proxy relays to an app it does not start (--upstream), so it does not know its command";
    } else if (proxy.argv.empty()) {
      why = "the running proxy does not report its app's command (an older hindsight?)";
    } else {
      auto inferred = replay::infer_from_command(proxy.argv, proxy.cwd);
      if (inferred.found) {
        spec = std::move(inferred.spec);
      } else {
        why = inferred.problem;
      }
    }
    if (spec.app.empty()) {
      throw std::runtime_error("cannot tell which app to replay capture " + std::to_string(id) + " against: " + why +
                               " — give it as gunicorn takes it: hindsight replay " + std::to_string(id) +
                               " --app myproject.wsgi:application [--chdir DIR] [--pythonpath DIR]");
    }
  }
  if (!o.chdir.empty()) spec.chdir = absolute(o.chdir);
  for (const auto& p : o.pythonpath) spec.pythonpath.push_back(absolute(p));
  return spec;
}

void warn(const std::string& what) { std::fprintf(stderr, "hindsight: warning: %s\n", what.c_str()); }

// --upstream: the request goes to the app at the address given, else to the one the
// running proxy forwards to (its control socket says where).
replay::replay_result send_to_app(const replay_options& o, const store::stored_capture& capture,
                                  const std::filesystem::path& control, std::chrono::milliseconds timeout) {
  std::string text = o.upstream_address;
  if (text.empty()) {
    auto proxy = ask_running_proxy(control);
    if (!proxy.running || proxy.upstream.empty())
      throw std::runtime_error("cannot tell where the app listens: " +
                               (proxy.running ? std::string("the running proxy does not report its upstream")
                                              : proxy.not_running_because) +
                               " — give its address: hindsight replay " + std::to_string(capture.id) +
                               " --upstream=127.0.0.1:8000 (or --upstream=unix:/path/to/app.sock)");
    text = proxy.upstream;
  }
  replay::upstream_settings settings;
  try {
    settings.address = proxy::parse_address(text);
  } catch (const proxy::address_error& e) {
    throw usage_error(std::string("--upstream: ") + e.what());
  }
  settings.timeout = timeout;
  auto request = replay::upstream_request_for(capture);
  for (const auto& w : request.warnings) warn("capture " + std::to_string(capture.id) + ": " + w);
  auto result = replay::replay_upstream(settings, request);
  result.target = "upstream";
  result.upstream = settings.address.to_string();
  return result;
}

}  // namespace

void add_replay_command(CLI::App& app, replay_options& o) {
  auto* cmd = app.add_subcommand("replay", "Run a captured request again in an embedded Python, with its traceback, or under pdb");
  add_data_option(*cmd, o.data);
  cmd->add_option("id", o.id, "The capture's id, as `hindsight list` shows it")->required();
  auto* app_option = cmd->add_option("--app", o.app,
                  "The WSGI app as gunicorn takes it (module:attribute); default: inferred from the gunicorn "
                  "command the running proxy supervises");
  auto* chdir_option = cmd->add_option("--chdir", o.chdir, "Directory to import the app from (as gunicorn's --chdir)");
  // One value per occurrence, so that `--break a.py:3 42` leaves 42 to the id.
  auto* pythonpath =
      cmd->add_option("--pythonpath", o.pythonpath, "Directory to add to sys.path (repeatable)")->allow_extra_args(false);
  auto* python_option = cmd->add_option("--python", o.python,
                  "The app's interpreter (usually its virtualenv's bin/python): its packages are used; default "
                  "$VIRTUAL_ENV, else the embedded one");
  auto* pdb = cmd->add_flag("--pdb", o.pdb, "Stop in pdb at the first line of the app's own code");
  auto* brk = cmd->add_option("--break", o.breaks,
                              "Stop in pdb at FILE:LINE[:CONDITION] (repeatable; FILE relative to the app's directory)")
                 ->allow_extra_args(false);
  auto* pm = cmd->add_flag("--post-mortem", o.post_mortem, "Open pdb on the exception, if one is raised");
  pdb->excludes(brk)->excludes(pm);
  brk->excludes(pm);
  auto* commit = cmd->add_flag(
      "--commit", o.commit, "Let the replay's database work and mail happen (default: rolled back, mail kept in memory)");
  auto* upstream =
      cmd->add_option("--upstream", o.upstream_address,
                      "Send the request to the running app instead of a worker: at ADDR (unix:/path or host:port), "
                      "default the app the running `hindsight run` proxies to. Its side effects happen.")
          ->expected(0, 1)
          ->allow_extra_args(false);
  // The running app is already loaded and nothing of it is rolled back: the worker's options do not apply.
  for (auto* worker_only : {app_option, chdir_option, pythonpath, python_option, pdb, brk, pm, commit})
    upstream->excludes(worker_only);
  cmd->add_flag("--diff", o.diff,
                "Compare the new response with the captured one: status, headers (not Date, Server, framing, "
                "request ids…), body (JSON by paths, text as a unified diff). Exit 3 when they differ");
  cmd->add_option("--timeout", o.timeout,
                  "How long the request may run before the worker is stopped, or the app's answer is given up "
                  "(default 60s; 3600s with a debugger)");
  cmd->add_flag("--json", o.json, "Print one JSON object (the fields are a stable interface)");
  cmd->add_option("--body-limit", o.body_limit, "Bytes of a text response body shown (0: all)")->capture_default_str();
  cmd->footer(
      "Examples:\n"
      "  hindsight replay 42                       # the response and the traceback\n"
      "  hindsight replay 42 --pdb                 # pdb in the view; `c` finishes the request\n"
      "  hindsight replay 42 --break shop/views.py:42:'order_id == 7'\n"
      "  hindsight replay 42 --app myapp.wsgi:application --chdir /app   # no proxy running\n"
      "  hindsight replay 42 --upstream --diff      # the running app again: does it still fail so?\n"
      "  hindsight replay 42 --upstream=127.0.0.1:8001\n"
      "Exit status: 0 the replay ran (with --diff: and the response is the same), 1 it could not run, 2 usage,\n"
      "3 with --diff: the response differs from the captured one.");
  // --upstream's address is optional: whether the option was given is known after parsing.
  cmd->callback([&o, upstream] { o.upstream = upstream->count() > 0; });
}

int replay(const replay_options& o) {
  return run_command([&]() -> int {
    std::int64_t id = 0;
    auto [end, ec] = std::from_chars(o.id.data(), o.id.data() + o.id.size(), id);
    if (ec != std::errc{} || end != o.id.data() + o.id.size() || id <= 0)
      throw usage_error("invalid capture id '" + o.id + "': expected a number as `hindsight list` shows it");

    replay::request_settings settings;
    const bool debugger = o.pdb || o.post_mortem || !o.breaks.empty();
    std::string stored_mode = "run";
    if (o.pdb) settings.mode = stored_mode = "pdb";
    if (o.post_mortem) settings.mode = stored_mode = "post_mortem";
    if (!o.breaks.empty()) stored_mode = "break";
    for (const auto& b : o.breaks) {
      try {
        settings.breaks.push_back(replay::parse_breakpoint(b));
      } catch (const std::invalid_argument& e) {
        throw usage_error(e.what());
      }
    }
    std::chrono::milliseconds timeout = debugger ? debugger_timeout : default_timeout;
    if (!o.timeout.empty()) {
      try {
        timeout = parse_duration(o.timeout);
      } catch (const std::invalid_argument& e) {
        throw usage_error(std::string("--timeout: ") + e.what());
      }
      if (timeout.count() <= 0) throw usage_error("--timeout must be longer than 0");
    }
    settings.timeout_s = static_cast<double>(timeout.count()) / 1000.0;
    settings.rollback = !o.commit;
    auto body_limit = static_cast<std::size_t>(size_option("--body-limit", o.body_limit));

    auto where = locate_store(o.data);
    const std::string dir = where.data.string();
    if (!where.database_exists())
      throw std::runtime_error("no capture " + o.id + " in " + dir + ": nothing has been captured there yet");

    // The worker's interpreter boots while the store is read: it is started first. What
    // stops it from starting is reported after the capture is known to exist.
    replay::session_settings session;
    replay::started_worker early;
    std::exception_ptr not_startable;
    std::string proxy_upstream;
    if (!o.upstream) {
      try {
        auto proxy = ask_running_proxy(where.control);
        proxy_upstream = proxy.upstream;
        session.app = choose_app(o, proxy, id);
        // On a terminal the worker gets it even without a debugger flag: the app's own
        // breakpoint() or pdb.set_trace() then opens a prompt there, with a debugger's time.
        const bool interactive = debugger || (!o.json && ::isatty(STDIN_FILENO) && ::isatty(STDOUT_FILENO));
        // The app's own interpreter (its virtualenv) unless told: --python, else $VIRTUAL_ENV
        // (the worker reads it), else the one the running proxy's app runs under.
        std::string python = o.python;
        const char* virtual_env = std::getenv("VIRTUAL_ENV");
        if (python.empty() && !(virtual_env && *virtual_env)) python = proxy.python;
        session.worker = {.executable = replay::find_worker(), .python = python, .interactive = interactive, .terminal = {}};
        if (o.timeout.empty()) session.prompt_timeout = debugger_timeout;
        session.timeout = timeout;
        session.load_timeout = std::max<std::chrono::milliseconds>(timeout, std::chrono::seconds(60));
        early = replay::start_worker(session.worker);
      } catch (...) {
        not_startable = std::current_exception();
      }
    }

    // The replay is stored: open for writing first, which also brings an older file's
    // schema up to date (the replays table) before the reader checks it.
    std::optional<store::sqlite::database> db;
    try {
      db.emplace(where.database, store::sqlite::open_mode::read_write);
      store::prepare_for_writing(*db);
    } catch (const store::error& e) {
      if (std::string_view(e.what()).find("newer hindsight") != std::string_view::npos) throw;
      warn(std::string("this replay will not be stored: ") + e.what());
      db.reset();
    }
    store::reader reader(where.database);
    auto capture = reader.get(id);
    if (!capture)
      throw std::runtime_error("no capture " + std::to_string(id) + " in " + dir +
                               " (`hindsight list` shows the ones there; old ones are pruned by retention)");

    replay::replay_result result;
    store::replay_record row;
    row.capture_id = id;
    row.time_us = now_us();
    if (o.upstream) {
      result = send_to_app(o, *capture, where.control, timeout);
      row.mode = "upstream";
      row.app_spec = result.upstream;
    } else {
      if (not_startable) std::rethrow_exception(not_startable);
      // Without a running proxy, the app listened where hindsight puts it by default.
      settings.upstream = !proxy_upstream.empty() ? proxy_upstream : "unix:" + dir + "/app.sock";
      auto request = replay::rebuild_request(*capture, settings);
      for (const auto& w : request.warnings) warn("capture " + std::to_string(id) + ": " + w);
      {
        terminal_guard terminal(session.worker.interactive);
        std::fflush(stdout);
        result = replay::run_session(session, request, std::move(early));
      }
      row.mode = stored_mode;
      row.app_spec = session.app.app;
    }
    result.capture_id = id;

    if (db) {
      if (auto* s = result.response.if_contains("status"); s && s->is_string())
        if (auto st = replay::parse_status(s->as_string())) row.status = st->code;
      if (!result.exception.is_null()) row.exception_json = to_json_text(result.exception);
      if (!result.response.empty()) row.result_json = to_json_text(result.response);
      row.body = result.body;
      row.duration_ms = result.duration_ms;
      row.outcome = std::string(replay::to_string(result.how));
      row.error = result.error;
      try {
        result.replay_id = store::insert_replay(*db, row);
      } catch (const store::error& e) {
        warn(std::string("this replay was not stored: ") + e.what());
      }
    }

    const bool completed = result.how == replay::outcome::completed;
    std::optional<replay::response_diff> diff;
    if (o.diff && completed)
      diff = replay::compare_responses(replay::captured_response(*capture), replay::replayed_response(result));
    std::string out;
    if (o.json) {
      auto object = replay::result_to_json(result);
      if (o.diff) object["diff"] = diff ? json::value(replay::diff_to_json(*diff)) : json::value(nullptr);
      out = to_json_text(object) + "\n";
    } else {
      out = replay::result_text(result, body_limit);
      if (diff) out += replay::diff_text(*diff);
    }
    if (o.json || completed || !result.exception.is_null())
      std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    if (!completed) {
      std::fprintf(stderr, "hindsight: error: replay of capture %lld: %s\n", static_cast<long long>(id),
                   result.error.c_str());
      return 1;
    }
    return diff && !diff->same() ? responses_differ : 0;
  });
}

}  // namespace hindsight::cli
