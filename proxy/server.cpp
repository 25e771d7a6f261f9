#include "proxy/server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <utility>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "proxy/client_session.hpp"
#include "proxy/forwarding.hpp"
#include "proxy/worker.hpp"

namespace hindsight::proxy {

namespace {

std::string errno_text(int e) { return std::strerror(e); }

// Resolves a TCP address to one socket address (the first getaddrinfo gives).
net::generic::stream_protocol::endpoint resolve(const address& a, bool passive) {
  if (a.is_unix()) return net::local::stream_protocol::endpoint(a.path);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  addrinfo* found = nullptr;
  auto port = std::to_string(a.port);
  int rc = ::getaddrinfo(a.host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) throw startup_error("cannot resolve '" + a.host + "' in " + a.to_string() + ": " + ::gai_strerror(rc));
  net::generic::stream_protocol::endpoint ep(found->ai_addr, found->ai_addrlen, found->ai_protocol);
  ::freeaddrinfo(found);
  return ep;
}

// The client's IP for X-Forwarded-For and the log, or "" for a unix-socket peer.
std::string peer_ip(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  } else if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) ::inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], buf, sizeof buf);
    else ::inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

net::awaitable<void> reject_overloaded(worker& w, stream_socket socket) {
  auto answer = own_response(503, "too many connections (--max-connections " +
                                      std::to_string(w.shared.options.max_connections) + "); try again shortly");
  boost::system::error_code ec;
  co_await net::async_write(socket, net::buffer(answer), net::redirect_error(net::use_awaitable, ec));
  socket.shutdown(net::socket_base::shutdown_send, ec);
  w.shared.connections.fetch_sub(1, std::memory_order_relaxed);
}

// A descriptor on its way to another thread: closed if it never gets there (the
// thread stopped first).
class owned_fd {
 public:
  explicit owned_fd(int fd) : fd_(fd) {}
  owned_fd(owned_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  owned_fd& operator=(owned_fd&&) = delete;
  ~owned_fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

net::awaitable<void> accept_loop(worker& w) {
  net::steady_timer backoff(w.io);
  auto last_warning = steady::time_point{};
  for (;;) {
    auto [ec, socket] = co_await w.acceptor->async_accept(net::as_tuple(net::use_awaitable));
    if (ec) {
      if (ec == net::error::operation_aborted || w.shared.draining) co_return;
      // Out of file descriptors: wait instead of spinning; the backlog holds the rest.
      if (steady::now() - last_warning > std::chrono::seconds(10)) {
        spdlog::warn("cannot accept a connection: {} (raise the open files limit, ulimit -n)", ec.message());
        last_warning = steady::now();
      }
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(net::as_tuple(net::use_awaitable));
      continue;
    }
    // Asio accepts without SOCK_CLOEXEC: an app restarted by the supervisor (or any
    // process started later) must not inherit client connections and hold them open.
    ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
    auto count = w.shared.connections.fetch_add(1, std::memory_order_relaxed) + 1;
    if (count > w.shared.options.max_connections) {
      net::co_spawn(w.io, reject_overloaded(w, std::move(socket)), net::detached);
      continue;
    }
    std::string ip;
    if (!w.shared.options.listen.is_unix()) {
      boost::system::error_code ignored;
      socket.set_option(net::ip::tcp::no_delay(true), ignored);
      ip = peer_ip(socket.native_handle());
    }
    // Clients open their connections in bursts (a pool at start-up), and whichever
    // thread wakes first would accept most of them and keep them for their life: each
    // goes to the thread with the fewest open, so that no core serves more than its share.
    worker* target = &w;
    for (auto* other : w.shared.workers)
      if (other->open.load(std::memory_order_relaxed) < target->open.load(std::memory_order_relaxed)) target = other;
    target->open.fetch_add(1, std::memory_order_relaxed);
    if (target == &w) {
      auto session = std::make_shared<client_session>(w, std::move(socket), std::move(ip));
      net::co_spawn(w.io, session->run(session), net::detached);
      continue;
    }
    net::post(target->io, [target, fd = owned_fd(socket.release()), ip = std::move(ip)]() mutable {
      stream_socket moved(target->io, net::generic::stream_protocol(target->shared.listen_family, 0), fd.release());
      auto session = std::make_shared<client_session>(*target, std::move(moved), std::move(ip));
      net::co_spawn(target->io, session->run(session), net::detached);
    });
  }
}

}  // namespace

struct server::impl {
  impl(proxy_options o, server_hooks hooks) {
    shared.options = std::move(o);
    shared.hooks = std::move(hooks);
  }
  ~impl() {
    if (listen_fd >= 0) ::close(listen_fd);
  }

  shared_state shared;
  int listen_fd = -1;
  int listen_family = AF_UNSPEC;
  std::vector<std::unique_ptr<worker>> workers;
  std::vector<std::thread> threads;
};

server::server(proxy_options options, server_hooks hooks)
    : impl_(std::make_unique<impl>(std::move(options), std::move(hooks))) {}

server::~server() { stop(); }

void server::bind() {
  const auto& listen = impl_->shared.options.listen;
  impl_->shared.upstream_endpoint = resolve(impl_->shared.options.upstream, false);
  auto name = listen.to_string();

  if (listen.is_unix()) {
    struct stat st{};
    if (::lstat(listen.path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode))
        throw startup_error("cannot listen on " + name + ": the path exists and is not a socket; remove it or choose another path");
      // Replace a socket file left by a process that is gone, never one that is alive.
      int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un sa{};
      sa.sun_family = AF_UNIX;
      std::strncpy(sa.sun_path, listen.path.c_str(), sizeof sa.sun_path - 1);
      int rc = ::connect(probe, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
      int err = errno;
      ::close(probe);
      if (rc == 0)
        throw startup_error("cannot listen on " + name + ": another process is listening on it; stop it or choose another --listen address");
      if (err == ECONNREFUSED) {
        spdlog::info("replacing the stale socket file {} (nobody listens on it)", listen.path);
        ::unlink(listen.path.c_str());
      }
    }
  }

  auto ep = resolve(listen, true);
  int fd = ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw startup_error("cannot create a socket for " + name + ": " + errno_text(errno));
  if (!listen.is_unix()) {
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  }
  if (::bind(fd, ep.data(), static_cast<socklen_t>(ep.size())) != 0) {
    int e = errno;
    ::close(fd);
    std::string why = "cannot listen on " + name + ": " + errno_text(e);
    if (e == EADDRINUSE) why += " — another process uses this address; stop it or choose another with --listen";
    else if (e == EACCES && !listen.is_unix()) why += " — ports below 1024 need privileges; choose a higher port";
    else if (listen.is_unix() && (e == EACCES || e == EROFS || e == ENOENT))
      why += " — the socket's directory must exist and be writable (on Platform.sh/Upsun the file system is "
             "read-only after the build: use $SOCKET or a writable mount)";
    throw startup_error(why);
  }
  // The router connects as another user on some hosts; gunicorn's sockets are
  // world-writable by default (umask 0) for the same reason.
  if (listen.is_unix()) ::chmod(listen.path.c_str(), 0666);
  if (::listen(fd, SOMAXCONN) != 0) {
    int e = errno;
    ::close(fd);
    throw startup_error("cannot listen on " + name + ": " + errno_text(e));
  }
  impl_->listen_fd = fd;
  impl_->listen_family = ep.protocol().family();
}

void server::start() {
  auto& s = *impl_;
  unsigned n = std::max(1u, s.shared.options.threads);
  for (unsigned i = 0; i < n; ++i) {
    auto w = std::make_unique<worker>(s.shared);
    // Every thread accepts on its own duplicate of the listening socket.
    int fd = ::fcntl(s.listen_fd, F_DUPFD_CLOEXEC, 0);
    w->acceptor.emplace(w->io, net::generic::stream_protocol(s.listen_family, 0), fd);
    net::co_spawn(w->io, accept_loop(*w), net::detached);
    s.shared.workers.push_back(w.get());
    s.workers.push_back(std::move(w));
  }
  s.shared.listen_family = s.listen_family;
  for (auto& w : s.workers) s.threads.emplace_back([w = w.get()] { w->io.run(); });
}

void server::begin_drain() {
  auto& s = *impl_;
  if (s.shared.draining.exchange(true)) return;
  for (auto& w : s.workers) {
    net::post(w->io, [w = w.get()] {
      boost::system::error_code ec;
      if (w->acceptor) w->acceptor->close(ec);
      w->pool.clear();
      for (auto* session : w->sessions) session->on_drain();
    });
  }
}

std::size_t server::open_connections() const { return impl_->shared.connections.load(); }

void server::stop() {
  auto& s = *impl_;
  for (auto& w : s.workers) w->io.stop();
  for (auto& t : s.threads)
    if (t.joinable()) t.join();
  s.threads.clear();
  s.workers.clear();
  if (s.listen_fd >= 0) {
    ::close(s.listen_fd);
    s.listen_fd = -1;
    if (s.shared.options.listen.is_unix()) ::unlink(s.shared.options.listen.path.c_str());
  }
}

}  // namespace hindsight::proxy
