#include "cli/attach_command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>
#include <uv.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include "cli/control_client.hpp"
#include "cli/duration.hpp"
#include "cli/store_options.hpp"
#include "cli/text_encoding.hpp"
#include "debug/attach_frame.hpp"

namespace hindsight::cli {
namespace {

namespace json = boost::json;
using debug::attach_frame_type;

// Bytes queued for the socket (or stdout) beyond which reading stdin (or the socket)
// pauses until they drain: a pipe on stdin, or a terminal scrolled back with its output
// stopped, must not grow this process without bound.
constexpr std::size_t backlog_limit = 1 << 20;
// After the session ended, how long the output still queued for stdout may take.
constexpr std::uint64_t drain_ms = 2000;

std::string field_text(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v || !v->is_string() || v->get_string().empty()) return "?";
  return escape_controls(v->get_string());
}

// The whole of `text` on stderr. stderr may share its open file with stdout, which libuv
// made non-blocking: wait for room rather than lose a message.
void write_stderr(std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(STDERR_FILENO, text.data(), text.size());
    if (n > 0) {
      text.remove_prefix(static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EAGAIN) {
      pollfd p{STDERR_FILENO, POLLOUT, 0};
      if (::poll(&p, 1, 1000) <= 0) return;
    } else if (n < 0 && errno == EINTR) {
    } else {
      return;  // nowhere left to say it
    }
  }
}

// An fd's status flags, put back at exit: libuv makes a pipe on stdin or stdout
// non-blocking, and that pipe may be shared with the shell that started us.
struct saved_fd_flags {
  int fd, flags;
  explicit saved_fd_flags(int f) : fd(f), flags(::fcntl(f, F_GETFL)) {}
  ~saved_fd_flags() {
    if (flags >= 0) ::fcntl(fd, F_SETFL, flags);
  }
};

struct unique_fd {
  int fd = -1;
  ~unique_fd() {
    if (fd >= 0) ::close(fd);
  }
};

// One uv_write in flight, owning its bytes.
struct write_request {
  uv_write_t req{};
  std::string bytes;
  class attach_client* client = nullptr;
};

// The attach connection and the terminal, on one libuv loop: the proxy's frames come in
// on the socket and go to stdout and stderr; what is typed goes out as `I` frames.
class attach_client {
 public:
  attach_client(std::filesystem::path socket, std::optional<std::chrono::milliseconds> wait, std::string wait_text)
      : socket_path_(std::move(socket)), wait_(wait), wait_text_(std::move(wait_text)) {}
  attach_client(const attach_client&) = delete;
  attach_client& operator=(const attach_client&) = delete;

  int run();

  void on_written(write_request* w, int status);

 private:
  void do_connect();
  void on_connect(int status);
  void do_read_socket();
  void on_socket_read(ssize_t nread);
  void on_frame(const debug::attach_frame& frame);
  void start_session(std::string_view payload);
  void end_session(std::string_view payload);
  uv_stream_t* open_stream(int fd, int readable, uv_tty_t& tty, uv_pipe_t& pipe);
  void open_stdout();
  // Queues `bytes` on the socket or stdout, counted in that stream's backlog until
  // on_written; false when libuv refuses (the stream is broken).
  bool start_write(uv_stream_t* stream, std::string bytes);
  void open_stdin();
  void do_read_stdin();
  void on_stdin_read(ssize_t nread, const char* bytes);
  void on_stdin_file_read(ssize_t nread);
  void stop_stdin();
  void send_frame(attach_frame_type type, std::string_view payload);
  void send_window();
  void write_stdout(std::string_view bytes);
  void on_stop_signal(int signum);
  void say(std::string_view line);
  // Ends the conversation: nothing more is read; `message` is said once the output queued
  // for stdout is written (unless `drain` is false) and the terminal is restored.
  void finish(int exit_status, std::string message, bool drain = true);
  void restore_terminal();
  uv_tty_t* window_tty();

  std::filesystem::path socket_path_;
  std::optional<std::chrono::milliseconds> wait_;
  std::string wait_text_;

  uv_loop_t loop_{};
  uv_pipe_t socket_{};
  uv_connect_t connect_req_{};
  unique_fd socket_dir_;  // holds a long socket path's directory open while connecting
  uv_timer_t wait_timer_{}, drain_timer_{};
  uv_signal_t winch_{}, term_{}, hup_{}, int_{}, quit_{};

  // stdin and stdout: a terminal, a pipe or socket (streams), or a file (read with
  // uv_fs_read, written synchronously).
  uv_tty_t in_tty_{}, out_tty_{};
  uv_pipe_t in_pipe_{}, out_pipe_{};
  uv_stream_t* in_ = nullptr;
  uv_stream_t* out_ = nullptr;
  bool in_is_file_ = false, out_is_file_ = false, out_opened_ = false;
  uv_fs_t in_file_req_{};
  bool in_file_reading_ = false;

  std::string inbox_;            // socket bytes not yet a whole frame
  char socket_buffer_[65536];
  char stdin_buffer_[65536];
  bool socket_reading_ = false, socket_paused_ = false;
  bool stdin_reading_ = false, stdin_paused_ = false, stdin_done_ = true;
  std::size_t socket_queued_ = 0, stdout_queued_ = 0;  // bytes of writes in flight
  bool wrote_output_ = false;
  char last_output_byte_ = '\n';

  bool started_ = false;  // an `S` arrived
  bool raw_ = false;      // the terminal is in raw mode: restore it before exit
  bool finishing_ = false;
  int exit_status_ = 1;
  std::string final_message_;
};

attach_client* client_of(const uv_handle_t* h) { return static_cast<attach_client*>(h->data); }
template <class Handle>
attach_client* client_of(const Handle* h) {
  return client_of(reinterpret_cast<const uv_handle_t*>(h));
}

int attach_client::run() {
  uv_loop_init(&loop_);
  uv_pipe_init(&loop_, &socket_, 0);
  socket_.data = this;
  for (auto* t : {&wait_timer_, &drain_timer_}) {
    uv_timer_init(&loop_, t);
    t->data = this;
  }
  for (auto* s : {&winch_, &term_, &hup_, &int_, &quit_}) {
    uv_signal_init(&loop_, s);
    s->data = this;
  }
  do_connect();
  if (wait_) {
    uv_timer_start(
        &wait_timer_,
        [](uv_timer_t* t) {
          auto* self = client_of(t);
          self->finish(1, "no debug request arrived within " + self->wait_text_ +
                              " — a rule with a debug action (pdb, break, post-mortem) must match a request that "
                              "carries a valid debug token: `hindsight rules test` says why a rule does not fire");
        },
        static_cast<std::uint64_t>(wait_->count()), 0);
  }
  uv_run(&loop_, UV_RUN_DEFAULT);

  restore_terminal();
  // The prompt the session left on the screen ("(Pdb) ") does not end its line.
  if (wrote_output_ && last_output_byte_ != '\n' && out_ == reinterpret_cast<uv_stream_t*>(&out_tty_))
    write_stderr("\n");
  if (!final_message_.empty()) say(final_message_);
  uv_walk(
      &loop_, [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  // A read of a file on stdin that already runs in libuv's thread pool cannot be
  // cancelled: it ends soon (a file does not block), and the loop waits for it.
  if (in_file_reading_) uv_cancel(reinterpret_cast<uv_req_t*>(&in_file_req_));
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
  return exit_status_;
}

void attach_client::do_connect() {
  std::string target = socket_path_.string();
  // libuv cuts a path longer than sun_path: reach the socket through its directory.
  if (target.size() >= sizeof(sockaddr_un::sun_path)) {
    socket_dir_.fd = ::open(socket_path_.parent_path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (socket_dir_.fd >= 0)
      target = "/proc/self/fd/" + std::to_string(socket_dir_.fd) + "/" + socket_path_.filename().string();
  }
  connect_req_.data = this;
  uv_pipe_connect(&connect_req_, &socket_, target.c_str(),
                  [](uv_connect_t* req, int status) { static_cast<attach_client*>(req->data)->on_connect(status); });
}

void attach_client::on_connect(int status) {
  if (socket_dir_.fd >= 0) {
    ::close(socket_dir_.fd);
    socket_dir_.fd = -1;
  }
  if (status == 0) return do_read_socket();
  const std::string shown = socket_path_.string(), data = socket_path_.parent_path().string();
  std::string why;
  // A proxy may run on this directory with live debugging off: then it says why.
  auto proxy = status == UV_ENOENT || status == UV_ECONNREFUSED
                   ? ask_proxy(socket_path_.parent_path() / "control.sock", "status")
                   : control_answer{};
  const json::value* debug = proxy.status == control_answer::state::running ? proxy.reply.if_contains("debug") : nullptr;
  if (debug && debug->is_object() && debug->as_object().contains("enabled") &&
      debug->as_object().at("enabled") == json::value(false)) {
    auto* reason = debug->as_object().if_contains("off_reason");
    why = "the `hindsight run` on '" + data + "' has live debugging off: " +
          (reason && reason->is_string() ? std::string(reason->as_string()) : std::string("(no reason given)")) +
          " — its start-up log says so too";
  } else if (status == UV_ENOENT) {
    why = "no `hindsight run` uses the data directory '" + data + "': there is no attach socket " + shown +
          " — pass --data with the directory the proxy uses, or start the proxy on this one";
  } else if (status == UV_ECONNREFUSED) {
    why = "nobody listens on " + shown + ": the `hindsight run` that made it is gone (it stopped or was killed) — "
          "start it again, or pass --data with the directory of the proxy that runs";
  } else if (status == UV_EACCES || status == UV_EPERM) {
    why = "cannot connect to " + shown + ": " + uv_strerror(status) +
          " — it belongs to another user: run `hindsight attach` as the user that runs `hindsight run`";
  } else {
    why = "cannot connect to " + shown + ": " + uv_strerror(status);
  }
  finish(1, "error: " + why, false);
}

void attach_client::do_read_socket() {
  socket_reading_ = true;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&socket_),
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto* self = client_of(h);
        *buf = uv_buf_init(self->socket_buffer_, sizeof self->socket_buffer_);
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t*) { client_of(s)->on_socket_read(nread); });
}

void attach_client::on_socket_read(ssize_t nread) {
  if (nread == 0 || finishing_) return;  // 0: EAGAIN, nothing read
  if (nread < 0) {
    // UV_EOF, or a reset: either way the proxy is gone without saying how the session ended.
    if (started_)
      return finish(1, "the proxy closed the attach connection before the session ended (it stopped or restarted)");
    return finish(1, "the proxy closed the attach connection (it stopped or restarted)");
  }
  inbox_.append(socket_buffer_, static_cast<std::size_t>(nread));
  try {
    while (!finishing_) {
      auto frame = debug::take_attach_frame(inbox_);
      if (!frame) break;
      on_frame(*frame);
    }
  } catch (const std::length_error& e) {
    finish(1, std::string("error: the proxy sent a frame larger than 1 MiB (") + e.what() +
                  "): is " + socket_path_.string() + " the attach socket of a `hindsight run` of this version?");
  }
}

void attach_client::on_frame(const debug::attach_frame& frame) {
  switch (frame.type) {
    case attach_frame_type::notice: return say(escape_controls(utf8_or_latin1(frame.payload)));
    case attach_frame_type::session_start: return start_session(frame.payload);
    case attach_frame_type::output: return write_stdout(frame.payload);
    case attach_frame_type::session_end: return end_session(frame.payload);
    default: return;  // a frame of a later version, or one meant for the proxy
  }
}

void attach_client::start_session(std::string_view payload) {
  if (started_) return;  // one connection serves one session
  started_ = true;
  uv_timer_stop(&wait_timer_);
  say(session_start_line(payload));
  open_stdout();
  open_stdin();
  // Raw: every key goes to pdb as typed (Ctrl-C is byte 3 for the session's own
  // terminal to turn into SIGINT), nothing is echoed here: pdb's terminal echoes.
  if (in_ == reinterpret_cast<uv_stream_t*>(&in_tty_) && uv_tty_set_mode(&in_tty_, UV_TTY_MODE_RAW) == 0) {
    raw_ = true;
    // libuv's raw mode keeps output processing (ONLCR): the session's own terminal has
    // done it already, so its bytes are written as they are, as ssh does (cfmakeraw).
    // uv_tty_reset_mode puts back the whole of the saved settings, OPOST with them.
    uv_os_fd_t fd;
    termios settings{};
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&in_tty_), &fd) == 0 && ::tcgetattr(fd, &settings) == 0) {
      settings.c_oflag &= ~static_cast<tcflag_t>(OPOST);
      ::tcsetattr(fd, TCSANOW, &settings);
      // Keys pressed while waiting were not meant for a prompt nobody had seen yet.
      ::tcflush(fd, TCIFLUSH);
    }
  }
  // Signals that would end this process: the terminal is put back first.
  auto on_signal = [](uv_signal_t* s, int signum) { client_of(s)->on_stop_signal(signum); };
  uv_signal_start(&term_, on_signal, SIGTERM);
  uv_signal_start(&hup_, on_signal, SIGHUP);
  if (raw_) {
    uv_signal_start(&int_, on_signal, SIGINT);
    uv_signal_start(&quit_, on_signal, SIGQUIT);
  }
  if (window_tty()) {
    uv_signal_start(&winch_, [](uv_signal_t* s, int) { client_of(s)->send_window(); }, SIGWINCH);
    send_window();
  }
  do_read_stdin();
}

void attach_client::end_session(std::string_view payload) {
  auto end = session_end_from(payload);
  finish(end.exit_status, end.line);
}

// `fd` as a libuv stream, a terminal or a pipe/socket; nullptr for what libuv cannot poll
// (a file, /dev/null), which is then read or written plainly.
uv_stream_t* attach_client::open_stream(int fd, int readable, uv_tty_t& tty, uv_pipe_t& pipe) {
  switch (uv_guess_handle(fd)) {
    case UV_TTY:
      if (uv_tty_init(&loop_, &tty, fd, readable) == 0) {
        tty.data = this;
        return reinterpret_cast<uv_stream_t*>(&tty);
      }
      break;
    case UV_NAMED_PIPE:
    case UV_TCP:
      uv_pipe_init(&loop_, &pipe, 0);
      pipe.data = this;
      if (uv_pipe_open(&pipe, fd) == 0) return reinterpret_cast<uv_stream_t*>(&pipe);
      uv_close(reinterpret_cast<uv_handle_t*>(&pipe), nullptr);
      break;
    default: break;
  }
  return nullptr;
}

void attach_client::open_stdout() {
  if (out_opened_) return;
  out_opened_ = true;
  out_ = open_stream(STDOUT_FILENO, 0, out_tty_, out_pipe_);
  out_is_file_ = out_ == nullptr;
}

void attach_client::open_stdin() {
  stdin_done_ = uv_guess_handle(STDIN_FILENO) == UV_UNKNOWN_HANDLE;  // closed: nothing to read
  if (stdin_done_) return;
  in_ = open_stream(STDIN_FILENO, 1, in_tty_, in_pipe_);
  in_is_file_ = in_ == nullptr;
}

void attach_client::do_read_stdin() {
  if (stdin_done_ || finishing_ || stdin_reading_) return;
  stdin_reading_ = true;
  if (in_is_file_) {
    in_file_req_.data = this;
    in_file_reading_ = true;
    auto buf = uv_buf_init(stdin_buffer_, sizeof stdin_buffer_);
    uv_fs_read(&loop_, &in_file_req_, STDIN_FILENO, &buf, 1, -1, [](uv_fs_t* req) {
      auto* self = static_cast<attach_client*>(req->data);
      auto result = req->result;
      uv_fs_req_cleanup(req);
      self->in_file_reading_ = false;
      self->on_stdin_file_read(result);
    });
    return;
  }
  uv_read_start(
      in_,
      [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
        auto* self = client_of(h);
        *buf = uv_buf_init(self->stdin_buffer_, sizeof self->stdin_buffer_);
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) { client_of(s)->on_stdin_read(nread, buf->base); });
}

void attach_client::on_stdin_read(ssize_t nread, const char* bytes) {
  if (nread == 0) return;
  if (nread < 0) return stop_stdin();  // end of input (a pipe), or an error: the session goes on
  send_frame(attach_frame_type::input, std::string_view(bytes, static_cast<std::size_t>(nread)));
}

void attach_client::on_stdin_file_read(ssize_t nread) {
  stdin_reading_ = false;
  if (nread == UV_ECANCELED || finishing_) return;
  if (nread <= 0) return stop_stdin();
  send_frame(attach_frame_type::input, std::string_view(stdin_buffer_, static_cast<std::size_t>(nread)));
  if (!stdin_paused_) do_read_stdin();
}

void attach_client::stop_stdin() {
  stdin_done_ = true;
  if (in_ && stdin_reading_) uv_read_stop(in_);
  stdin_reading_ = false;
}

void attach_client::send_frame(attach_frame_type type, std::string_view payload) {
  if (finishing_) return;
  // When the connection is broken, reading it says so.
  if (!start_write(reinterpret_cast<uv_stream_t*>(&socket_), debug::encode_attach_frame(type, payload))) return;
  if (socket_queued_ > backlog_limit && !stdin_paused_) {
    stdin_paused_ = true;
    if (in_ && stdin_reading_) {
      uv_read_stop(in_);
      stdin_reading_ = false;
    }
  }
}

void attach_client::write_stdout(std::string_view bytes) {
  if (bytes.empty()) return;
  open_stdout();
  wrote_output_ = true;
  last_output_byte_ = bytes.back();
  if (out_is_file_) {
    while (!bytes.empty()) {
      ssize_t n = ::write(STDOUT_FILENO, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // stdout is gone; the session goes on for whoever types
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return;
  }
  if (!start_write(out_, std::string(bytes))) return;
  if (stdout_queued_ > backlog_limit && socket_reading_) {
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&socket_));
    socket_reading_ = false;
    socket_paused_ = true;
  }
}

bool attach_client::start_write(uv_stream_t* stream, std::string bytes) {
  auto* w = new write_request;
  w->bytes = std::move(bytes);
  w->client = this;
  w->req.data = w;
  auto& queued = stream == reinterpret_cast<uv_stream_t*>(&socket_) ? socket_queued_ : stdout_queued_;
  queued += w->bytes.size();
  auto buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
  int r = uv_write(&w->req, stream, &buf, 1, [](uv_write_t* req, int status) {
    auto* w = static_cast<write_request*>(req->data);
    w->client->on_written(w, status);
  });
  if (r != 0) {
    queued -= w->bytes.size();
    delete w;
    return false;
  }
  return true;
}

void attach_client::on_written(write_request* w, int status) {
  const bool to_socket = w->req.handle == reinterpret_cast<uv_stream_t*>(&socket_);
  (to_socket ? socket_queued_ : stdout_queued_) -= w->bytes.size();
  delete w;
  if (status == UV_ECANCELED) return;  // closing at exit
  if (to_socket) {
    if (stdin_paused_ && socket_queued_ < backlog_limit / 2) {
      stdin_paused_ = false;
      do_read_stdin();
    }
    return;
  }
  if (finishing_) {
    if (stdout_queued_ == 0) uv_stop(&loop_);
    return;
  }
  if (socket_paused_ && stdout_queued_ < backlog_limit / 2) {
    socket_paused_ = false;
    do_read_socket();
  }
}

uv_tty_t* attach_client::window_tty() {
  if (out_ == reinterpret_cast<uv_stream_t*>(&out_tty_)) return &out_tty_;
  if (in_ == reinterpret_cast<uv_stream_t*>(&in_tty_)) return &in_tty_;
  return nullptr;
}

void attach_client::send_window() {
  auto* tty = window_tty();
  int columns = 0, rows = 0;
  if (!tty || uv_tty_get_winsize(tty, &columns, &rows) != 0 || columns <= 0 || rows <= 0) return;
  auto u16 = [](int n) { return static_cast<unsigned>(std::min(n, 0xffff)); };
  send_frame(attach_frame_type::window, debug::window_payload(u16(rows), u16(columns)));
}

void attach_client::on_stop_signal(int signum) {
  const char* name = ::sigabbrev_np(signum);
  finish(1,
         "stopped by " + (name ? "SIG" + std::string(name) : "signal " + std::to_string(signum)) +
             ": the session goes back to the proxy — another `hindsight attach` can take it up where it is",
         false);
}

void attach_client::say(std::string_view line) {
  std::string out = "hindsight: ";
  out.append(line);
  // Raw mode leaves the cursor where a bare newline puts it: return it to the margin.
  out += raw_ ? "\r\n" : "\n";
  write_stderr(out);
}

void attach_client::finish(int exit_status, std::string message, bool drain) {
  if (finishing_) return;
  finishing_ = true;
  exit_status_ = exit_status;
  final_message_ = std::move(message);
  if (socket_reading_) uv_read_stop(reinterpret_cast<uv_stream_t*>(&socket_));
  socket_reading_ = false;
  if (in_ && stdin_reading_) uv_read_stop(in_);
  stdin_reading_ = false;
  uv_timer_stop(&wait_timer_);
  for (auto* s : {&winch_, &term_, &hup_, &int_, &quit_}) uv_signal_stop(s);
  if (!drain || stdout_queued_ == 0) return uv_stop(&loop_);
  // The output before the end goes out first, within a bound: a stopped terminal must not
  // keep this process (and its raw mode) forever.
  uv_timer_start(&drain_timer_, [](uv_timer_t* t) { uv_stop(t->loop); }, drain_ms, 0);
}

void attach_client::restore_terminal() {
  if (!raw_) return;
  uv_tty_reset_mode();
  raw_ = false;
}

}  // namespace

std::string session_start_line(std::string_view payload) {
  boost::system::error_code ec;
  auto v = json::parse(payload, ec);
  std::string what = "a request";
  if (!ec && v.is_object()) {
    const auto& o = v.get_object();
    what = field_text(o, "method") + " " + field_text(o, "target") + " from " + field_text(o, "client") + " (rule '" +
           field_text(o, "rule") + "', " + field_text(o, "action") + ")";
  }
  return "debugging " + what + "; Ctrl-D at the (Pdb) prompt detaches, c continues, Ctrl-C interrupts";
}

session_end session_end_from(std::string_view payload) {
  boost::system::error_code ec;
  auto v = json::parse(payload, ec);
  session_end end;
  if (ec || !v.is_object()) {
    end.line = "the debug session ended (the proxy's account of it was not readable)";
    return end;
  }
  const auto& o = v.get_object();
  std::string outcome = "?";
  if (auto* x = o.if_contains("outcome"); x && x->is_string()) outcome = std::string(x->get_string());
  std::string message = "the debug session ended";
  if (auto* x = o.if_contains("message"); x && x->is_string() && !x->get_string().empty())
    message = escape_controls(x->get_string());
  std::string status = "no response status";
  if (auto* x = o.if_contains("status"); x && x->is_int64()) {
    status = "status " + std::to_string(x->get_int64());
    if (auto* r = o.if_contains("reason"); r && r->is_string() && !r->get_string().empty())
      status += " " + escape_controls(r->get_string());
  }
  end.exit_status = outcome == "completed" ? 0 : 1;
  end.line = message + " (" + (end.exit_status == 0 ? "" : escape_controls(outcome) + "; ") + status + ")";
  return end;
}

void add_attach_command(CLI::App& app, attach_options& o) {
  auto* cmd = app.add_subcommand(
      "attach", "Be the terminal of a live debug session: the pdb prompt of a request a debug rule sends to the debugger");
  add_data_option(*cmd, o.data);
  cmd->add_option("--wait", o.wait, "Give up when no debug request arrives within this (10s, 2m); default: wait until Ctrl-C");
  cmd->footer(
      "Examples:\n"
      "  hindsight rules add --name pdb-q --query pdb=1 --do pdb   # requests with ?pdb=1 and a debug token stop in pdb\n"
      "  hindsight attach                                          # send one: its (Pdb) prompt opens here");
}

int attach(const attach_options& o) {
  return run_command([&]() -> int {
    std::optional<std::chrono::milliseconds> wait;
    if (!o.wait.empty()) {
      try {
        wait = parse_duration(o.wait);
      } catch (const std::invalid_argument& e) {
        throw usage_error(std::string("--wait: ") + e.what());
      }
      if (wait->count() <= 0) throw usage_error("--wait must be longer than 0 (leave it out to wait until Ctrl-C)");
    }
    auto where = locate_store(o.data);
    // A write to a connection the proxy closed must be an error to handle, not a signal
    // that kills this process with the terminal raw.
    ::signal(SIGPIPE, SIG_IGN);
    saved_fd_flags in_flags(STDIN_FILENO), out_flags(STDOUT_FILENO);
    attach_client client(where.data / "attach.sock", wait, o.wait);
    return client.run();
  });
}

}  // namespace hindsight::cli
