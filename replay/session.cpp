#include "replay/session.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <tuple>
#include <vector>

#include "cli/json_output.hpp"
#include "embed/protocol.hpp"

namespace hindsight::replay {
namespace {

namespace json = boost::json;

using clock = std::chrono::steady_clock;

// The end of the conversation: `r.how`/`r.error` say why.
struct stopped {
  outcome how;
  std::string error;
  json::value exception = nullptr;
};

json::object parse_header(const protocol::frame& f) {
  boost::system::error_code ec;
  json::parse_options options;
  options.allow_invalid_utf8 = true;
  auto v = json::parse(f.header, ec, {}, options);
  if (ec || !v.is_object()) throw stopped{outcome::error, "the worker sent a header that is not a JSON object"};
  return std::move(v.as_object());
}

std::string type_of(const json::object& h) {
  if (auto* t = h.if_contains("type"); t && t->is_string()) return std::string(t->as_string());
  return {};
}

std::string message_of(const json::object& h) {
  if (auto* m = h.if_contains("message"); m && m->is_string()) return std::string(m->as_string());
  return "(no message)";
}

class conversation {
 public:
  conversation(worker_process& w, const session_settings& s) : worker_(w), settings_(s) {}

  // The worker is gone or going: why, with what it last wrote to stderr.
  stopped worker_ended(std::string_view while_doing) {
    auto status = worker_.wait(std::chrono::milliseconds(3000));
    if (!status) status = worker_.stop(settings_.grace);
    std::string tail = indented_tail(worker_.stderr_tail());
    if (status->signal && status->signal != SIGTERM && status->signal != SIGKILL) {
      return stopped{outcome::crashed,
                     "worker " + describe(*status) + " " + std::string(while_doing) +
                         (tail.empty() ? std::string() : "; its last words on stderr:\n" + tail)};
    }
    std::string what = "the worker " + describe(*status) + " " + std::string(while_doing);
    return stopped{status->signal ? outcome::crashed : outcome::error,
                   tail.empty() ? what + " and wrote nothing on stderr" : what + ":\n" + tail};
  }

  void send(const json::object& header, std::string_view body, std::string_view while_doing) {
    try {
      protocol::write_frame(worker_.socket(), cli::to_json_text(header), body);
    } catch (const protocol::error& e) {
      if (e.code() == protocol::error::kind::peer_closed) throw worker_ended(while_doing);
      throw stopped{outcome::error, "cannot write to the worker " + std::string(while_doing) + ": " + e.what()};
    }
  }

  // The next message; `on_timeout` is thrown when none comes within `timeout`.
  std::pair<json::object, std::string> receive(std::chrono::milliseconds timeout, std::string_view while_doing,
                                               const std::string& on_timeout) {
    std::optional<protocol::frame> f;
    try {
      f = protocol::read_frame(worker_.socket(), static_cast<int>(std::min<long long>(timeout.count(), INT32_MAX)));
    } catch (const protocol::error& e) {
      if (e.code() == protocol::error::kind::timeout) {
        worker_.stop(settings_.grace);
        throw stopped{outcome::timeout, on_timeout};
      }
      if (e.code() != protocol::error::kind::peer_closed) {
        worker_.stop(settings_.grace);
        throw stopped{outcome::error, "the worker broke the protocol " + std::string(while_doing) + ": " + e.what()};
      }
    }
    if (!f) throw worker_ended(while_doing);
    auto header = parse_header(*f);
    return {std::move(header), std::move(f->body)};
  }

 private:
  worker_process& worker_;
  const session_settings& settings_;
};

}  // namespace

json::object load_message(const app_spec& app) {
  json::object env;
  for (const auto& [k, v] : app.env) env[k] = v;
  json::array pythonpath;
  for (const auto& p : app.pythonpath) pythonpath.push_back(json::string(p));
  json::object load{{"type", "load"}, {"app", app.app}, {"pythonpath", std::move(pythonpath)}, {"env", std::move(env)}};
  if (!app.chdir.empty()) load["chdir"] = app.chdir;
  return load;
}

std::string seconds_text(std::chrono::milliseconds d) {
  char buf[32];
  if (d.count() % 1000 == 0)
    std::snprintf(buf, sizeof buf, "%lld s", static_cast<long long>(d.count() / 1000));
  else
    std::snprintf(buf, sizeof buf, "%g s", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

std::string indented_tail(std::string_view tail, std::size_t max_lines) {
  while (!tail.empty() && (tail.back() == '\n' || tail.back() == '\r')) tail.remove_suffix(1);
  if (tail.empty()) return {};
  std::size_t start = tail.size();
  for (std::size_t lines = 0; start > 0 && lines < max_lines;) {
    --start;
    if (tail[start] == '\n' && ++lines == max_lines) {
      ++start;
      break;
    }
  }
  std::string out;
  std::string_view rest = tail.substr(start);
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    out += "    " + std::string(rest.substr(0, nl)) + "\n";
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
  }
  return out;
}

started_worker start_worker(const worker_options& options) {
  started_worker w;
  try {
    w.process = std::make_unique<worker_process>(options);
  } catch (const std::exception& e) {
    w.error = e.what();
  }
  return w;
}

replay_result run_session(const session_settings& s, const worker_request& request, started_worker early) {
  replay_result r;
  if (auto* id = request.header.if_contains("capture_id"); id && id->is_int64()) r.capture_id = id->as_int64();
  if (!early.process && early.error.empty()) early = start_worker(s.worker);
  if (!early.process) {
    r.how = outcome::error;
    r.error = early.error;
    return r;
  }
  std::unique_ptr<worker_process> worker = std::move(early.process);
  conversation talk(*worker, s);
  auto started = clock::now();
  try {
    auto [hello, _] = talk.receive(s.load_timeout, "before it said hello",
                                   "the worker did not start within " + seconds_text(s.load_timeout) + "; it was stopped");
    if (type_of(hello) != "hello")
      throw stopped{outcome::error, "the worker began with '" + type_of(hello) + "' instead of hello"};
    auto* version = hello.if_contains("protocol");
    if (!version || !version->is_int64() || version->as_int64() != protocol::version) {
      throw stopped{outcome::error, "the worker speaks protocol " + (version ? json::serialize(*version) : std::string("?")) +
                                        ", this hindsight " + std::to_string(protocol::version) +
                                        ": build hindsight and hindsight-worker from the same tree"};
    }

    talk.send(load_message(s.app), {}, "while loading the app");
    auto [loaded, __] = talk.receive(s.load_timeout, "while loading the app '" + s.app.app + "'",
                                     "the app '" + s.app.app + "' did not load within " + seconds_text(s.load_timeout) +
                                         "; the worker was stopped");
    if (type_of(loaded) == "error") {
      stopped e{outcome::error, "the app '" + s.app.app + "' could not be loaded: " + message_of(loaded)};
      if (auto* ex = loaded.if_contains("exception")) e.exception = *ex;
      throw e;
    }
    if (type_of(loaded) != "loaded")
      throw stopped{outcome::error, "the worker answered load with '" + type_of(loaded) + "' instead of loaded"};

    started = clock::now();
    talk.send(request.header, request.body, "while the request ran");
    // The worker's own stop comes first; the margin lets its answer arrive before the kill.
    auto allowed = s.timeout;
    auto deadline = clock::now() + s.timeout + s.grace;
    json::object response;
    std::string body;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
      std::tie(response, body) =
          talk.receive(std::max(left, std::chrono::milliseconds(0)), "while the request ran",
                       "the request did not finish within " + seconds_text(allowed) +
                           "; the worker was stopped (--timeout to allow longer)");
      if (type_of(response) != "debugger") break;
      // A developer at a prompt is not a runaway request.
      if (s.prompt_timeout > allowed) {
        allowed = s.prompt_timeout;
        deadline = clock::now() + s.prompt_timeout + s.grace;
      }
    }
    r.duration_ms = std::chrono::duration<double, std::milli>(clock::now() - started).count();
    if (type_of(response) == "error") {
      stopped e{outcome::error, "the worker could not run the request: " + message_of(response)};
      if (auto* ex = response.if_contains("exception")) e.exception = *ex;
      throw e;
    }
    if (type_of(response) != "response")
      throw stopped{outcome::error, "the worker answered the request with '" + type_of(response) + "' instead of response"};
    r.how = outcome::completed;
    // The worker stops a request itself a little before the deadline where Python can
    // (its traceback then shows where the request was); the parent kills it otherwise.
    if (auto* t = response.if_contains("timed_out"); t && t->is_bool() && t->as_bool()) {
      r.how = outcome::timeout;
      r.error = "the request did not finish within " + seconds_text(s.timeout) +
                "; the worker stopped it (--timeout to allow longer)";
    }
    if (auto* ex = response.if_contains("exception")) r.exception = *ex;
    r.response = std::move(response);
    r.body = std::move(body);
  } catch (stopped& e) {
    r.how = e.how;
    r.error = std::move(e.error);
    r.exception = std::move(e.exception);
    if (r.duration_ms == 0) r.duration_ms = std::chrono::duration<double, std::milli>(clock::now() - started).count();
  }
  r.stderr_tail = worker->stderr_tail();
  worker->close_socket();
  if (!worker->wait(std::chrono::milliseconds(5000))) worker->stop(s.grace);
  return r;
}

}  // namespace hindsight::replay
