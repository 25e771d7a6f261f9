#include "debug/live_debugger.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "debug/answer.hpp"
#include "debug/attach_frame.hpp"
#include "debug/pseudo_terminal.hpp"
#include "debug/worker_link.hpp"
#include "embed/protocol.hpp"
#include "replay/session.hpp"
#include "replay/worker_request.hpp"

namespace hindsight::debug {
namespace {

namespace json = boost::json;
using net::redirect_error;
using net::use_awaitable;
using clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

// What a session's terminal showed, kept with its record; what an attach joining late
// is shown first.
constexpr std::size_t transcript_limit = 1 << 20;
constexpr std::size_t scrollback_bytes = 64 << 10;
// A response body stored with the session record (the client gets all of it).
constexpr std::size_t stored_body_limit = 1 << 20;
constexpr int busy_retry_after_s = 30;
// Output waiting for an attached terminal, at most.
constexpr std::size_t queue_limit = 4 << 20;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string mode_of(proxy::rule_action a) {
  switch (a) {
    case proxy::rule_action::pdb: return "pdb";
    case proxy::rule_action::break_at: return "break";
    case proxy::rule_action::post_mortem: return "post_mortem";
    default: return "traceback";
  }
}

std::string request_text(const store::capture& c) { return c.method + " " + c.target; }

}  // namespace

struct attach_client;

struct live_session {
  proxy::debug_job job;
  std::function<void(proxy::debug_answer)> done;
  struct worker_slot* slot = nullptr;
  std::shared_ptr<attach_client> terminal;
  std::string transcript;
  bool transcript_truncated = false;
  bool prompt_open = false;
  bool auto_detached = false;
  bool timed_out = false;
  bool ended = false;
  std::string stop_reason;  // set when the proxy stops the worker itself (shutdown)
  clock::time_point started = clock::now();
  std::int64_t started_us = now_us();
  std::unique_ptr<net::steady_timer> attach_timer;
  std::unique_ptr<net::steady_timer> deadline;

  // pdb, break: the developer wants to see it from the start. Otherwise only once a
  // prompt opened (post-mortem, or the app's own breakpoint()).
  bool wants_terminal() const {
    return !ended && !terminal &&
           (prompt_open || job.action == proxy::rule_action::pdb || job.action == proxy::rule_action::break_at);
  }
};

struct attach_client : std::enable_shared_from_this<attach_client> {
  explicit attach_client(net::local::stream_protocol::socket s) : socket(std::move(s)) {}
  net::local::stream_protocol::socket socket;
  std::deque<std::string> queue;
  std::size_t queued_bytes = 0;
  std::uint64_t dropped_output = 0;  // bytes left out while the terminal did not keep up
  bool writing = false;
  bool closing = false;  // close once the queue is written
  bool gone = false;
  std::shared_ptr<live_session> session;
};

struct worker_slot {
  explicit worker_slot(const net::any_io_executor& ex) : idle_timer(ex) {}
  unsigned index = 0;
  std::unique_ptr<replay::worker_process> process;
  std::unique_ptr<worker_link> link;
  std::unique_ptr<net::posix::stream_descriptor> terminal;
  bool ready = false;
  std::shared_ptr<live_session> session;
  net::steady_timer idle_timer;
};

struct live_debugger::impl : std::enable_shared_from_this<live_debugger::impl> {
  explicit impl(live_options o) : options(std::move(o)), acceptor(io) {}

  live_options options;
  net::io_context io;
  net::local::stream_protocol::acceptor acceptor;
  std::thread thread;
  std::vector<std::unique_ptr<worker_slot>> slots;
  std::deque<std::shared_ptr<attach_client>> waiting;  // attached, no session yet
  std::vector<std::shared_ptr<live_session>> sessions;  // running
  bool stopping = false;
  std::string stop_why;
  std::uint64_t sessions_total = 0;
  // Set once stop() began: requests are answered on the caller's thread from then on,
  // since the debugger's thread may no longer run what is posted to it.
  // The lock orders it with submit's posts: each one posted before it runs before the
  // thread ends, each one after is answered 503 right away.
  std::mutex closing;
  bool closed = false;

  net::any_io_executor executor() { return io.get_executor(); }

  // ---- attach connections -------------------------------------------------------

  void send(const std::shared_ptr<attach_client>& c, attach_frame_type type, std::string_view payload) {
    if (c->gone) return;
    if (type == attach_frame_type::output) {
      // A terminal that stopped reading (Ctrl-S, a slow link, a stopped process) must not
      // make the proxy hold all the program prints: beyond a bound it is left out, and
      // the terminal is told how much once it keeps up again.
      if (c->queued_bytes > queue_limit) {
        c->dropped_output += payload.size();
        return;
      }
      if (c->dropped_output) {
        auto note = std::to_string(c->dropped_output) + " bytes of output were left out: the terminal did not keep up";
        c->dropped_output = 0;
        send(c, attach_frame_type::notice, note);
      }
    }
    c->queue.push_back(encode_attach_frame(type, payload));
    c->queued_bytes += c->queue.back().size();
    if (!c->writing) net::co_spawn(executor(), write_loop(c), net::detached);
  }

  void close_after_writes(const std::shared_ptr<attach_client>& c) {
    c->closing = true;
    if (!c->writing) net::co_spawn(executor(), write_loop(c), net::detached);
  }

  net::awaitable<void> write_loop(std::shared_ptr<attach_client> c) {
    c->writing = true;
    error_code ec;
    while (!c->queue.empty() && !c->gone) {
      auto frame = std::move(c->queue.front());
      c->queue.pop_front();
      c->queued_bytes -= frame.size();
      co_await net::async_write(c->socket, net::buffer(frame), redirect_error(use_awaitable, ec));
      if (ec) {
        c->gone = true;
        break;
      }
    }
    c->writing = false;
    if (c->closing || c->gone) {
      c->socket.shutdown(net::socket_base::shutdown_both, ec);
      c->socket.close(ec);
    }
  }

  void notice(const std::shared_ptr<attach_client>& c, std::string_view text) {
    send(c, attach_frame_type::notice, text);
  }

  net::awaitable<void> accept_loop() {
    for (;;) {
      error_code ec;
      net::local::stream_protocol::socket s(io);
      co_await acceptor.async_accept(s, redirect_error(use_awaitable, ec));
      if (ec) {
        if (ec == net::error::operation_aborted || stopping) co_return;
        spdlog::warn("the attach socket failed to accept a connection: {}", ec.message());
        continue;
      }
      ::fcntl(s.native_handle(), F_SETFD, FD_CLOEXEC);
      auto c = std::make_shared<attach_client>(std::move(s));
      net::co_spawn(executor(), read_loop(c), net::detached);
      offer_terminal(c);
    }
  }

  // A new (or freed) terminal takes the oldest session that waits for one, or waits.
  void offer_terminal(const std::shared_ptr<attach_client>& c) {
    for (auto& s : sessions) {
      if (s->wants_terminal()) {
        bind(s, c);
        return;
      }
    }
    waiting.push_back(c);
    notice(c, "waiting for a debug request: open a URL a debug rule matches (`hindsight rules list`) with your "
              "debug token (`hindsight token`); Ctrl-C stops waiting");
  }

  // A session that wants a terminal takes the oldest waiting one.
  void offer_session(const std::shared_ptr<live_session>& s) {
    while (!waiting.empty() && s->wants_terminal()) {
      auto c = waiting.front();
      waiting.pop_front();
      if (c->gone) continue;
      bind(s, c);
    }
  }

  void bind(const std::shared_ptr<live_session>& s, const std::shared_ptr<attach_client>& c) {
    s->terminal = c;
    c->session = s;
    if (s->attach_timer) s->attach_timer->cancel();
    const auto& r = s->job.request;
    json::object start{{"method", r.method},
                       {"target", r.target},
                       {"client", r.client},
                       {"rule", s->job.rule},
                       {"action", std::string(proxy::to_string(s->job.action))}};
    send(c, attach_frame_type::session_start, json::serialize(start));
    if (!s->transcript.empty()) {
      std::string_view t = s->transcript;
      send(c, attach_frame_type::output, t.substr(t.size() > scrollback_bytes ? t.size() - scrollback_bytes : 0));
    }
    spdlog::info("hindsight attach took the debug session of {} (rule '{}')", request_text(r), s->job.rule);
  }

  net::awaitable<void> read_loop(std::shared_ptr<attach_client> c) {
    std::string buffer;
    char chunk[4096];
    error_code ec;
    for (;;) {
      auto n = co_await c->socket.async_read_some(net::buffer(chunk), redirect_error(use_awaitable, ec));
      if (ec) break;
      buffer.append(chunk, n);
      try {
        while (auto f = take_attach_frame(buffer)) on_frame(c, *f);
      } catch (const std::exception&) {
        spdlog::warn("hindsight attach sent a malformed frame; its connection is closed");
        break;
      }
    }
    c->gone = true;
    c->socket.close(ec);
    std::erase(waiting, c);
    if (auto s = c->session; s && !s->ended && s->terminal == c) {
      s->terminal.reset();
      spdlog::info("hindsight attach left the debug session of {} (rule '{}')", request_text(s->job.request), s->job.rule);
      if (s->prompt_open) arm_attach_wait(s);
      offer_session(s);
    }
    c->session.reset();
  }

  void on_frame(const std::shared_ptr<attach_client>& c, const attach_frame& f) {
    auto s = c->session;
    if (!s || s->ended || !s->slot || !s->slot->terminal) return;  // before S: ignored
    int master = s->slot->terminal->native_handle();
    if (f.type == attach_frame_type::input) {
      write_terminal(master, f.payload);
    } else if (f.type == attach_frame_type::window && f.payload.size() == 4) {
      auto byte = [&](int i) { return static_cast<unsigned>(static_cast<unsigned char>(f.payload[i])); };
      set_window_size(master, (byte(0) << 8) | byte(1), (byte(2) << 8) | byte(3));
    }
  }

  // Typed input is small; the terminal's buffer only fills when the worker stopped
  // reading, and then the keystrokes are dropped rather than queued.
  static void write_terminal(int master, std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::write(master, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // ---- the pseudo-terminal ----------------------------------------------------

  void on_output(worker_slot& slot, std::string_view bytes) {
    auto s = slot.session;
    if (!s || s->ended) return;  // an idle worker (the app's import) has nobody to show it to
    if (s->transcript.size() < transcript_limit) s->transcript.append(bytes.substr(0, transcript_limit - s->transcript.size()));
    else s->transcript_truncated = true;
    if (s->terminal) {
      send(s->terminal, attach_frame_type::output, bytes);
    } else if (s->auto_detached && bytes.ends_with("(Pdb) ")) {
      // Nobody came back: a later prompt (the app's own breakpoint()) is left as well.
      write_terminal(slot.terminal->native_handle(), "\x15\x04");
    }
  }

  net::awaitable<void> terminal_loop(worker_slot* slot, net::posix::stream_descriptor* terminal) {
    char chunk[4096];
    error_code ec;
    for (;;) {
      auto n = co_await terminal->async_read_some(net::buffer(chunk), redirect_error(use_awaitable, ec));
      if (slot->terminal.get() != terminal) co_return;  // the worker was discarded
      if (ec) {
        // EIO: the worker closed its terminal, it exited. While idle, nobody else notices:
        // the next request must find a fresh one, not this one's dead socket.
        if (!slot->session) {
          spdlog::warn("debug worker {} exited while idle; the next debug request starts a new one", slot->index + 1);
          discard_worker(*slot);
        }
        co_return;
      }
      on_output(*slot, std::string_view(chunk, n));
    }
  }

  // What the terminal holds that the reader has not taken yet: the last words before a
  // response arrived belong to that session.
  void drain_terminal(worker_slot& slot) {
    if (!slot.terminal) return;
    char chunk[4096];
    error_code ec;
    slot.terminal->non_blocking(true, ec);
    for (int i = 0; i < 64; ++i) {
      auto n = slot.terminal->read_some(net::buffer(chunk), ec);
      if (ec || n == 0) break;
      on_output(slot, std::string_view(chunk, n));
    }
  }

  // ---- workers ----------------------------------------------------------------

  void discard_worker(worker_slot& slot) {
    slot.ready = false;
    slot.idle_timer.cancel();
    if (slot.link) slot.link->close();
    if (slot.terminal) {
      error_code ec;
      slot.terminal->close(ec);
    }
    slot.link.reset();
    slot.terminal.reset();
    if (slot.process) {
      // Closing the socket asks it to exit; one at a prompt or hung gets SIGTERM/SIGKILL.
      if (!slot.process->wait(std::chrono::milliseconds(200))) slot.process->stop(options.grace);
      slot.process.reset();
    }
  }

  // Spawns the worker on a new terminal and waits for hello and the app's import.
  net::awaitable<std::string> start_worker(worker_slot& slot) {
    try {
      pseudo_terminal pty;
      auto wo = options.worker;
      wo.terminal = pty.slave_path();
      wo.interactive = false;
      slot.process = std::make_unique<replay::worker_process>(wo);
      int fd = ::fcntl(slot.process->socket(), F_DUPFD_CLOEXEC, 0);
      if (fd < 0) throw std::runtime_error(std::string("cannot keep the worker's socket: ") + std::strerror(errno));
      slot.process->close_socket();
      slot.link = std::make_unique<worker_link>(executor(), fd);
      slot.terminal = std::make_unique<net::posix::stream_descriptor>(io, pty.release_master());
    } catch (const std::exception& e) {
      discard_worker(slot);
      co_return std::string("the debug worker could not be started: ") + e.what();
    }
    auto deadline = std::make_shared<net::steady_timer>(io, options.load_timeout);
    auto late = std::make_shared<bool>(false);
    auto* loading = slot.process.get();
    deadline->async_wait([late, loading, &slot](error_code ec) {
      if (ec || slot.process.get() != loading || slot.ready) return;
      *late = true;
      ::kill(loading->pid(), SIGKILL);
    });
    auto hello = co_await slot.link->receive();
    std::string problem;
    if (!hello || hello->type() != "hello") {
      problem = hello ? "the debug worker began with '" + hello->type() + "' instead of hello" : ended_text(slot, "before it said hello", *late);
    } else if (auto* v = hello->header.if_contains("protocol"); !v || !v->is_int64() || v->as_int64() != protocol::version) {
      problem = "the debug worker speaks another protocol than this hindsight: build hindsight and hindsight-worker from the same tree";
    }
    if (problem.empty()) {
      // Once it said hello the worker has its terminal open: reading it cannot hit EIO
      // before the worker exits.
      net::co_spawn(executor(), terminal_loop(&slot, slot.terminal.get()), net::detached);
      std::optional<worker_message> loaded;
      if (co_await slot.link->send(replay::load_message(options.app), {})) loaded = co_await slot.link->receive();
      if (!loaded) {
        problem = ended_text(slot, "while it imported the app '" + options.app.app + "'", *late);
      } else if (loaded->type() == "error") {
        auto* m = loaded->header.if_contains("message");
        problem = "the debug worker could not import the app '" + options.app.app +
                  "': " + (m && m->is_string() ? std::string(m->as_string()) : std::string("(no message)"));
      } else if (loaded->type() != "loaded") {
        problem = "the debug worker answered load with '" + loaded->type() + "'";
      }
    }
    deadline->cancel();
    if (!problem.empty()) {
      discard_worker(slot);
      co_return problem;
    }
    slot.ready = true;
    spdlog::info("debug worker {} (pid {}) is ready with {}", slot.index + 1, slot.process->pid(), options.app.app);
    co_return std::string();
  }

  // Why the worker's socket closed: how the process ended and its last stderr lines.
  std::string ended_text(worker_slot& slot, std::string_view while_doing, bool killed_late) {
    if (!slot.process) return "the debug worker is gone";
    auto status = slot.process->wait(std::chrono::milliseconds(1000));
    if (!status) status = slot.process->stop(options.grace);
    if (killed_late)
      return "the debug worker did not get ready within " + replay::seconds_text(options.load_timeout) + " " +
             std::string(while_doing) + "; it was stopped";
    std::string tail = replay::indented_tail(slot.process->stderr_tail(), 10);
    return "the debug worker " + replay::describe(*status) + " " + std::string(while_doing) +
           (tail.empty() ? std::string() : "; its last words on stderr:\n" + tail);
  }

  void keep_warm(worker_slot& slot) {
    slot.idle_timer.expires_after(options.idle);
    slot.idle_timer.async_wait([this, &slot, p = slot.process.get()](error_code ec) {
      if (ec || slot.session || slot.process.get() != p || !p) return;
      spdlog::info("debug worker {} idle for {}: stopped (--debug-idle)", slot.index + 1, replay::seconds_text(options.idle));
      discard_worker(slot);
    });
  }

  // ---- sessions ---------------------------------------------------------------

  void arm_attach_wait(const std::shared_ptr<live_session>& s) {
    if (!s->attach_timer) s->attach_timer = std::make_unique<net::steady_timer>(io);
    s->attach_timer->expires_after(options.attach_wait);
    s->attach_timer->async_wait([this, s](error_code ec) {
      if (ec || s->ended || s->terminal || !s->slot || !s->slot->terminal) return;
      spdlog::warn("nobody attached within {} to the debug session of {} (rule '{}'): the debugger was detached and "
                   "the request runs on (--attach-wait; `hindsight attach` shows the prompt)",
                   replay::seconds_text(options.attach_wait), request_text(s->job.request), s->job.rule);
      s->auto_detached = true;
      // At the (Pdb) prompt: kill the line, then end of input, which detaches.
      write_terminal(s->slot->terminal->native_handle(), "\x15\x04");
    });
  }

  void arm_deadline(const std::shared_ptr<live_session>& s, std::chrono::milliseconds allowed) {
    if (!s->deadline) s->deadline = std::make_unique<net::steady_timer>(io);
    s->deadline->expires_after(allowed + options.grace);
    s->deadline->async_wait([s](error_code ec) {
      if (ec || s->ended || !s->slot || !s->slot->process) return;
      s->timed_out = true;
      ::kill(s->slot->process->pid(), SIGKILL);
    });
  }

  worker_slot* free_slot() {
    worker_slot* empty = nullptr;
    for (auto& slot : slots) {
      if (slot->session) continue;
      if (slot->ready) return slot.get();
      if (!empty) empty = slot.get();
    }
    return empty;
  }

  void start_session(proxy::debug_job job, std::function<void(proxy::debug_answer)> done) {
    ++sessions_total;
    auto s = std::make_shared<live_session>();
    s->job = std::move(job);
    s->done = std::move(done);
    const auto what = request_text(s->job.request);
    if (stopping) {
      finish(s, own_answer(503, "hindsight is stopping: no debug session can start", "", busy_retry_after_s), "error");
      return;
    }
    auto* slot = free_slot();
    if (!slot) {
      auto why = "every debug worker is busy with another debug session (--debug-workers " +
                 std::to_string(options.workers) + "): retry when it is over";
      spdlog::warn("{} (rule '{}'): {}", what, s->job.rule, why);
      finish(s, own_answer(503, why, "", busy_retry_after_s), "error");
      return;
    }
    slot->session = s;
    slot->idle_timer.cancel();
    s->slot = slot;
    sessions.push_back(s);
    spdlog::info("{} from {}: rule '{}' fired ({}): debug session on worker {}", what, s->job.request.client, s->job.rule,
                 proxy::to_string(s->job.action), slot->index + 1);
    net::co_spawn(executor(), run(s), [this, s](std::exception_ptr e) {
      if (!e) return;
      std::string what = "an internal error in the live debugger";
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        what += std::string(": ") + x.what();
      } catch (...) {
      }
      spdlog::error("{} (rule '{}'): {}", request_text(s->job.request), s->job.rule, what);
      // Whatever state the worker is in, the next request gets a new one.
      if (s->slot) discard_worker(*s->slot);
      finish(s, own_answer(500, what, "crashed"), "error");
    });
  }

  net::awaitable<void> run(std::shared_ptr<live_session> s) {
    auto& slot = *s->slot;
    if (!slot.ready) {
      // (Not `stopping ? … : co_await …`: GCC 12 destroys such a temporary twice.)
      std::string problem;
      if (!stopping) problem = co_await start_worker(slot);
      if (stopping) {
        discard_worker(slot);
        finish(s, own_answer(503, stop_why, "", busy_retry_after_s), "error");
        co_return;
      }
      if (!problem.empty()) {
        spdlog::error("{} (rule '{}'): {}", request_text(s->job.request), s->job.rule, problem);
        finish(s, own_answer(502, problem, "unreachable"), "error");
        co_return;
      }
    }
    offer_session(s);

    replay::request_settings settings;
    settings.mode = s->job.action == proxy::rule_action::pdb           ? "pdb"
                    : s->job.action == proxy::rule_action::post_mortem ? "post_mortem"
                                                                       : "run";
    if (s->job.action == proxy::rule_action::break_at) {
      try {
        settings.breaks.push_back(replay::parse_breakpoint(s->job.action_arg));
      } catch (const std::exception& e) {
        finish(s, own_answer(500, std::string("the rule's breakpoint is not valid: ") + e.what(), ""), "error");
        co_return;
      }
    }
    // A live request is a real one: its database writes and mail happen, as they would
    // have without the debugger.
    settings.rollback = false;
    settings.timeout_s = std::chrono::duration<double>(options.request_timeout).count();
    settings.body_limit = options.body_limit;
    settings.upstream = options.upstream;
    store::stored_capture as_stored;
    static_cast<store::capture&>(as_stored) = s->job.request;
    auto request = replay::rebuild_request(as_stored, settings);
    request.header.erase("capture_id");

    arm_deadline(s, options.request_timeout);
    std::optional<worker_message> answer;
    if (co_await slot.link->send(request.header, request.body)) {
      for (;;) {
        answer = co_await slot.link->receive();
        if (!answer || answer->type() != "debugger") break;
        if (!s->prompt_open) {
          s->prompt_open = true;
          arm_deadline(s, options.session_timeout);
          offer_session(s);
          if (!s->terminal) {
            spdlog::warn("{} (rule '{}'): a pdb prompt is open; it waits {} for `hindsight attach`",
                         request_text(s->job.request), s->job.rule, replay::seconds_text(options.attach_wait));
            arm_attach_wait(s);
          }
        }
      }
    }
    drain_terminal(slot);
    auto duration_ms = std::chrono::duration<double, std::milli>(clock::now() - s->started).count();

    if (!answer) {
      std::string why, kind = "crashed", outcome = "crashed";
      int status = 502;
      if (!s->stop_reason.empty()) {
        why = s->stop_reason;
        status = 503;
        outcome = "error";
      } else if (s->timed_out) {
        auto allowed = s->prompt_open ? options.session_timeout : options.request_timeout;
        why = "the request did not finish within " + replay::seconds_text(allowed) + " in the debug worker" +
              (s->prompt_open ? " (--debug-timeout)" : " (--upstream-timeout)") + "; the worker was stopped";
        status = 504;
        kind = outcome = "timeout";
      } else {
        why = ended_text(slot, "in the middle of the request", false);
      }
      spdlog::error("{} (rule '{}'): {}", request_text(s->job.request), s->job.rule, why);
      discard_worker(slot);
      end_with_own_answer(s, status, why, kind, outcome, duration_ms);
      co_return;
    }
    if (answer->type() == "error") {
      auto* m = answer->header.if_contains("message");
      std::string why = "the debug worker could not run the request: " +
                        (m && m->is_string() ? std::string(m->as_string()) : std::string("(no message)"));
      auto* kind = answer->header.if_contains("kind");
      if (!kind || !kind->is_string() || kind->as_string() != "app") discard_worker(slot);
      end_with_own_answer(s, 502, why, "malformed", "error", duration_ms, answer->header.if_contains("exception"));
      co_return;
    }
    if (answer->type() != "response") {
      discard_worker(slot);
      auto why = "the debug worker answered the request with '" + answer->type() + "' instead of response";
      end_with_own_answer(s, 502, why, "malformed", "error", duration_ms);
      co_return;
    }
    bool timed_out = false;
    if (auto* t = answer->header.if_contains("timed_out"); t && t->is_bool()) timed_out = t->as_bool();
    replay::page_context context;
    context.request_line = s->job.request.method + " " + s->job.request.target + " HTTP/1." +
                           (s->job.request.version == 10 ? "0" : "1");
    context.origin = "live request, rule '" + s->job.rule + "'";
    auto body_for_record = answer->body.substr(0, stored_body_limit);
    if (timed_out) {
      // The worker stopped the request itself (RequestTimeout where it was): the client
      // gets what a hung app gets from the proxy, the record keeps where it stood.
      auto why = "the request did not finish within " + replay::seconds_text(options.request_timeout) +
                 " in the debug worker (--upstream-timeout); it was stopped";
      spdlog::error("{} (rule '{}'): {}", request_text(s->job.request), s->job.rule, why);
      end_with_own_answer(s, 504, why, "timeout", "timeout", duration_ms, answer->header.if_contains("exception"),
                          answer->header, std::move(body_for_record));
      co_return;
    }
    auto a = app_answer(answer->header, std::move(answer->body), s->job.action == proxy::rule_action::traceback, context);
    a.session = record(s, "completed", "", answer->header.if_contains("exception"), answer->header, duration_ms);
    a.session->body = std::move(body_for_record);
    finish(s, std::move(a), "completed");
  }

  // The proxy's own answer for a session without a response to pass on; its record keeps
  // what is known (the traceback of where a stopped request stood, its partial result).
  void end_with_own_answer(const std::shared_ptr<live_session>& s, int status, const std::string& why,
                           const std::string& kind, const std::string& outcome, double duration_ms,
                           const json::value* exception = nullptr, const json::object& response = {},
                           std::string body = {}) {
    auto a = own_answer(status, why, kind);
    a.session = record(s, outcome, why, exception, response, duration_ms);
    a.session->body = std::move(body);
    finish(s, std::move(a), outcome);
  }

  store::replay_record record(const std::shared_ptr<live_session>& s, const std::string& outcome, const std::string& error,
                              const json::value* exception, const json::object& response, double duration_ms) {
    store::replay_record r;
    r.time_us = s->started_us;
    r.mode = mode_of(s->job.action);
    r.app_spec = options.app.app;
    if (auto* st = response.if_contains("status"); st && st->is_string())
      if (auto parsed = replay::parse_status(st->as_string())) r.status = parsed->code;
    if (exception && exception->is_object()) r.exception_json = json::serialize(*exception);
    if (!response.empty()) r.result_json = json::serialize(response);
    r.duration_ms = duration_ms;
    r.outcome = outcome;
    r.error = error;
    r.transcript = s->transcript;
    if (s->transcript_truncated) r.transcript += "\n[hindsight: the transcript was cut at 1 MiB]\n";
    r.trigger = s->job.rule;
    return r;
  }

  // The client gets its answer, the terminal is told, the worker waits for the next.
  void finish(const std::shared_ptr<live_session>& s, proxy::debug_answer a, const std::string& outcome) {
    if (s->ended) return;
    s->ended = true;
    if (s->attach_timer) s->attach_timer->cancel();
    if (s->deadline) s->deadline->cancel();
    std::erase(sessions, s);
    if (auto c = s->terminal) {
      std::string message = a.error.empty() ? "the request is answered: the client got " + std::to_string(a.status) +
                                                  " " + a.reason + " after " +
                                                  replay::seconds_text(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                      clock::now() - s->started))
                                            : a.error + "; the client got " + std::to_string(a.status) + " " + a.reason;
      json::object end{{"status", a.status}, {"reason", a.reason}, {"outcome", outcome}, {"message", message}};
      send(c, attach_frame_type::session_end, json::serialize(end));
      close_after_writes(c);
      c->session.reset();
      s->terminal.reset();
    }
    if (auto* slot = s->slot) {
      slot->session.reset();
      s->slot = nullptr;
      if (slot->ready && !stopping) keep_warm(*slot);
    }
    auto done = std::move(s->done);
    s->done = nullptr;
    if (done) done(std::move(a));
  }

  void shut_down(std::string why) {
    stopping = true;
    stop_why = why;
    error_code ec;
    acceptor.close(ec);
    ::unlink(options.attach_socket.c_str());
    for (auto& c : waiting) {
      notice(c, why);
      close_after_writes(c);
    }
    waiting.clear();
    for (auto& slot : slots) {
      if (slot->session) {
        slot->session->stop_reason = why;
        if (slot->process) ::kill(slot->process->pid(), SIGKILL);
      } else {
        discard_worker(*slot);
      }
    }
  }
};

live_debugger::live_debugger(live_options options) : impl_(std::make_shared<impl>(std::move(options))) {
  if (impl_->options.workers == 0) impl_->options.workers = 1;
  for (unsigned i = 0; i < impl_->options.workers; ++i) {
    impl_->slots.push_back(std::make_unique<worker_slot>(impl_->executor()));
    impl_->slots.back()->index = i;
  }
}

live_debugger::~live_debugger() { stop("hindsight is stopping"); }

void live_debugger::start() {
  auto& p = *impl_;
  const auto path = p.options.attach_socket.string();
  // Bound under a temporary name and made owner-only before it takes its real one, so
  // that no one can connect in between (the data directory is 0700 anyway, unless the
  // user allowed a shared one). A file left at the real name is a stale socket of a
  // proxy that is gone: this data directory is ours (the control socket proved it).
  const auto temporary = (p.options.attach_socket.parent_path() / ("." + std::to_string(::getpid()))).string();
  ::unlink(temporary.c_str());
  error_code ec;
  p.acceptor.open(net::local::stream_protocol(), ec);
  if (!ec) ::fcntl(p.acceptor.native_handle(), F_SETFD, FD_CLOEXEC);
  if (!ec) p.acceptor.bind(net::local::stream_protocol::endpoint(temporary), ec);
  if (!ec && ::chmod(temporary.c_str(), 0600) != 0) ec.assign(errno, boost::system::system_category());
  if (!ec && ::rename(temporary.c_str(), path.c_str()) != 0) ec.assign(errno, boost::system::system_category());
  if (!ec) p.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    ::unlink(temporary.c_str());
    throw std::runtime_error("cannot listen on the attach socket " + path + ": " + ec.message());
  }
  net::co_spawn(p.executor(), p.accept_loop(), net::detached);
  p.thread = std::thread([impl = impl_] {
    auto guard = net::make_work_guard(impl->io);
    for (;;) {
      try {
        impl->io.run();
        break;
      } catch (const std::exception& e) {
        spdlog::error("the live debugger hit an internal error and goes on: {}", e.what());
      }
    }
  });
}

void live_debugger::stop(std::string why) {
  auto& p = *impl_;
  if (!p.thread.joinable()) return;
  {
    std::lock_guard lock(p.closing);
    p.closed = true;
  }
  std::promise<void> idle;
  auto finished = idle.get_future();
  net::post(p.io, [&p, why, &idle] {
    p.shut_down(why);
    // The sessions end as their killed workers' sockets close; then the thread exits.
    auto check = std::make_shared<net::steady_timer>(p.io);
    auto wait = std::make_shared<std::function<void(int)>>();
    *wait = [&p, &idle, check, wait](int rounds) {
      if (p.sessions.empty() || rounds == 0) {
        idle.set_value();
        *wait = nullptr;
        return;
      }
      check->expires_after(std::chrono::milliseconds(20));
      check->async_wait([wait, rounds](error_code) {
        if (*wait) (*wait)(rounds - 1);
      });
    };
    (*wait)(500);
  });
  finished.wait_for(std::chrono::seconds(15));
  // Sessions that did not end (a stuck worker) are answered here; their workers go
  // with the slots.
  net::post(p.io, [&p] {
    auto left = p.sessions;
    for (auto& s : left) p.finish(s, own_answer(503, p.stop_why, "", busy_retry_after_s), "error");
    for (auto& slot : p.slots) p.discard_worker(*slot);
    p.io.stop();
  });
  p.thread.join();
}

std::optional<live_debugger::stats> live_debugger::current_stats() const {
  auto& p = *impl_;
  {
    std::lock_guard lock(p.closing);
    if (p.closed || !p.thread.joinable()) return std::nullopt;
  }
  auto answer = std::make_shared<std::promise<stats>>();
  auto future = answer->get_future();
  net::post(p.io, [impl = impl_, answer] {
    stats st;
    st.workers = static_cast<unsigned>(impl->slots.size());
    for (const auto& slot : impl->slots) {
      if (slot->ready) ++st.warm;
      if (slot->session) ++st.busy;
    }
    st.terminals_waiting = static_cast<unsigned>(impl->waiting.size());
    st.sessions = impl->sessions_total;
    answer->set_value(st);
  });
  if (future.wait_for(std::chrono::seconds(1)) != std::future_status::ready) return std::nullopt;
  return future.get();
}

void live_debugger::submit(proxy::debug_job job, std::function<void(proxy::debug_answer)> done) {
  std::unique_lock lock(impl_->closing);
  if (impl_->closed) {
    lock.unlock();
    done(own_answer(503, "hindsight is stopping: no debug session can start", "", busy_retry_after_s));
    return;
  }
  net::post(impl_->io, [impl = impl_, job = std::move(job), done = std::move(done)]() mutable {
    impl->start_session(std::move(job), std::move(done));
  });
}

}  // namespace hindsight::debug
