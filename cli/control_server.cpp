#include "cli/control_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <unordered_set>
#include <vector>
#include <stdexcept>

namespace hindsight::cli {

namespace {

constexpr std::size_t max_request = 64 * 1024;

// Whether a proxy answers on the control socket at `path`, and if so who it is:
// "pid 123, listening on unix:/run/app.sock" (or "" when it does not say in time).
std::optional<std::string> who_listens(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::string reply;
  constexpr std::string_view ask = "{\"command\":\"status\"}\n";
  if (::send(fd, ask.data(), ask.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(ask.size())) {
    char buf[4096];
    ssize_t n;
    while (reply.size() < max_request && (n = ::recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  boost::system::error_code ec;
  auto v = boost::json::parse(reply, ec);
  if (ec || !v.is_object()) return std::string();
  auto& o = v.as_object();
  std::string who;
  if (auto* pid = o.if_contains("pid"); pid && pid->is_int64()) who = "pid " + std::to_string(pid->as_int64());
  if (auto* listen = o.if_contains("listen"); listen && listen->is_string())
    who += (who.empty() ? "" : ", ") + std::string("listening on ") + std::string(listen->as_string());
  return who;
}

// One client: reads a line, answers, closes. A client that says nothing for a while is
// closed, so a stuck `nc -U` can neither hold the loop's resources nor delay shutdown.
struct connection {
  uv_pipe_t pipe{};
  uv_timer_t timer{};
  std::string in, out;
  std::size_t pending = 0;  // bytes at the end of `in` lent to libuv for a read
  uv_write_t write{};
  control_server::impl* server = nullptr;
  int open_handles = 0;
  bool closing = false;
};

constexpr std::uint64_t client_timeout_ms = 2000;
constexpr std::size_t max_clients = 16;

}  // namespace

struct control_server::impl {
  uv_loop_t* loop;
  std::string path;
  std::function<std::string(std::string_view)> answer;
  uv_pipe_t listener{};
  bool listening = false;
  std::function<void()> on_closed;
  std::unordered_set<connection*> clients;

  void on_connection() {
    auto* c = new connection;
    c->server = this;
    uv_pipe_init(loop, &c->pipe, 0);
    uv_timer_init(loop, &c->timer);
    c->pipe.data = c->timer.data = c;
    c->open_handles = 2;
    clients.insert(c);
    if (uv_accept(reinterpret_cast<uv_stream_t*>(&listener), reinterpret_cast<uv_stream_t*>(&c->pipe)) != 0 ||
        clients.size() > max_clients) {
      finish(c);
      return;
    }
    uv_timer_start(
        &c->timer, [](uv_timer_t* t) { static_cast<connection*>(t->data)->server->finish(static_cast<connection*>(t->data)); },
        client_timeout_ms, 0);
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->pipe),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* c = static_cast<connection*>(h->data);
          auto old = c->in.size();
          c->pending = 4096;
          c->in.resize(old + c->pending);
          *buf = uv_buf_init(c->in.data() + old, static_cast<unsigned>(c->pending));
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t*) {
          auto* c = static_cast<connection*>(s->data);
          c->in.resize(c->in.size() - c->pending + static_cast<std::size_t>(n > 0 ? n : 0));
          c->pending = 0;
          if (n < 0 && n != UV_EOF) return c->server->finish(c);
          auto eol = c->in.find('\n');
          if (eol == std::string::npos && n != UV_EOF && c->in.size() < max_request) return;
          uv_read_stop(s);
          c->server->reply(c, std::string_view(c->in).substr(0, eol));
        });
  }

  void reply(connection* c, std::string_view request) {
    try {
      c->out = answer(request);
    } catch (const std::exception& e) {
      c->out = R"({"error":"internal error; see the proxy's log"})";
      spdlog::warn("control socket: {}", e.what());
    }
    c->out += '\n';
    auto buf = uv_buf_init(c->out.data(), static_cast<unsigned>(c->out.size()));
    c->write.data = c;
    if (uv_write(&c->write, reinterpret_cast<uv_stream_t*>(&c->pipe), &buf, 1,
                 [](uv_write_t* w, int) {
                   auto* c = static_cast<connection*>(w->data);
                   c->server->finish(c);
                 }) != 0)
      finish(c);
  }

  void finish(connection* c) {
    if (c->closing) return;
    c->closing = true;
    clients.erase(c);
    auto closed = [](uv_handle_t* h) {
      auto* c = static_cast<connection*>(h->data);
      if (--c->open_handles == 0) delete c;
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), closed);  // cancels a pending write
  }
};

control_server::control_server(uv_loop_s* loop, std::string path, std::function<std::string(std::string_view)> answer)
    : impl_(std::make_unique<impl>()) {
  impl_->loop = loop;
  impl_->path = std::move(path);
  impl_->answer = std::move(answer);
}

control_server::~control_server() = default;

void control_server::start() {
  auto& s = *impl_;
  if (s.path.size() >= sizeof(sockaddr_un::sun_path))
    throw std::runtime_error("the control socket path '" + s.path + "' is longer than a unix socket allows: use a shorter --data directory");
  if (auto who = who_listens(s.path))
    throw std::runtime_error("another hindsight is already running on this data directory (" +
                             (who->empty() ? "its control socket " + s.path + " answers" : *who) +
                             "): stop it first, or give this one another --data directory");
  ::unlink(s.path.c_str());  // a socket file left by a proxy that is gone
  uv_pipe_init(s.loop, &s.listener, 0);
  s.listener.data = impl_.get();
  int rc = uv_pipe_bind(&s.listener, s.path.c_str());
  if (rc == 0) {
    ::chmod(s.path.c_str(), 0600);
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&s.listener), 16,
                   [](uv_stream_t* l, int status) {
                     if (status == 0) static_cast<impl*>(l->data)->on_connection();
                   });
  }
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&s.listener), nullptr);
    throw std::runtime_error("cannot listen on the control socket " + s.path + ": " + uv_strerror(rc));
  }
  s.listening = true;
}

void control_server::close(std::function<void()> done) {
  auto& s = *impl_;
  if (!s.listening) {
    if (done) done();
    return;
  }
  s.listening = false;
  ::unlink(s.path.c_str());
  for (auto* c : std::vector<connection*>(s.clients.begin(), s.clients.end())) s.finish(c);
  s.on_closed = std::move(done);
  uv_close(reinterpret_cast<uv_handle_t*>(&s.listener), [](uv_handle_t* h) {
    auto* s = static_cast<impl*>(h->data);
    if (s->on_closed) s->on_closed();
  });
}

}  // namespace hindsight::cli
