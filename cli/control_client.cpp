#include "cli/control_client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <cerrno>
#include <cstring>
#include <thread>

#include "cli/json_output.hpp"

namespace hindsight::cli {
namespace {

using clock = std::chrono::steady_clock;

struct unique_fd {
  int fd = -1;
  explicit unique_fd(int f) : fd(f) {}
  ~unique_fd() {
    if (fd >= 0) ::close(fd);
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
};

control_answer unreachable(std::string problem) {
  control_answer a;
  a.status = control_answer::state::unreachable;
  a.problem = std::move(problem);
  return a;
}

control_answer not_running(std::string why) {
  control_answer a;
  a.status = control_answer::state::not_running;
  a.problem = std::move(why);
  return a;
}

// Waits for `events` until the deadline; false on timeout.
bool wait_for(int fd, short events, clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
    if (left <= 0) return false;
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n > 0) return true;  // readable, writable, or an error the next call reports
    if (n < 0 && errno != EINTR) return true;
  }
}

}  // namespace

control_answer ask_proxy(const std::filesystem::path& socket_path, const std::string& command,
                         std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  const std::string shown = socket_path.string();

  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::string target = shown;
  // A path too long for sun_path is reached through the directory's descriptor.
  std::unique_ptr<unique_fd> dir;
  if (target.size() >= sizeof sa.sun_path) {
    dir = std::make_unique<unique_fd>(::open(socket_path.parent_path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (dir->fd < 0) return unreachable("cannot open '" + socket_path.parent_path().string() + "': " + std::strerror(errno));
    target = "/proc/self/fd/" + std::to_string(dir->fd) + "/" + socket_path.filename().string();
    if (target.size() >= sizeof sa.sun_path) return unreachable("the socket name '" + shown + "' is too long");
  }
  std::memcpy(sa.sun_path, target.data(), target.size());

  unique_fd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (sock.fd < 0) return unreachable(std::string("cannot create a socket: ") + std::strerror(errno));

  for (;;) {
    if (::connect(sock.fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0) break;
    int err = errno;
    if (err == EINTR) continue;
    if (err == ENOENT) return not_running("no control socket at " + shown);
    // A socket file left behind by a proxy that was killed, or a file that is no socket.
    if (err == ECONNREFUSED) return not_running("nobody listens on " + shown + ": a socket file left behind by a proxy that stopped");
    if (err == EAGAIN && clock::now() < deadline) {  // the listen backlog is full: a busy proxy
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    if (err == EAGAIN) return unreachable("the proxy did not accept a connection on " + shown + " in time");
    if (err == EACCES || err == EPERM)
      return unreachable("cannot connect to " + shown + ": " + std::strerror(err) + " — run this as the user that runs `hindsight run`");
    return unreachable("cannot connect to " + shown + ": " + std::strerror(err));
  }

  std::string request = to_json_text(boost::json::object{{"command", command}}) + "\n";
  std::size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(sock.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
    } else if (n < 0 && errno == EAGAIN) {
      if (!wait_for(sock.fd, POLLOUT, deadline)) return unreachable("the proxy did not read its request on " + shown + " in time");
    } else {
      return unreachable("the proxy closed " + shown + " before reading the request: " + std::strerror(errno));
    }
  }

  std::string reply;
  constexpr std::size_t max_reply = 1 << 20;
  for (;;) {
    char buf[4096];
    ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
    if (n > 0) {
      reply.append(buf, static_cast<std::size_t>(n));
      if (reply.find('\n') != std::string::npos) break;
      if (reply.size() > max_reply) return unreachable("the reply on " + shown + " is larger than 1 MiB");
    } else if (n == 0) {
      break;
    } else if (errno == EINTR) {
    } else if (errno == EAGAIN) {
      if (!wait_for(sock.fd, POLLIN, deadline))
        return unreachable("no reply on " + shown + " within " + std::to_string(timeout.count()) + " ms");
    } else {
      return unreachable("reading the reply on " + shown + ": " + std::strerror(errno));
    }
  }
  if (auto nl = reply.find('\n'); nl != std::string::npos) reply.resize(nl);
  if (reply.empty()) return unreachable("the proxy closed " + shown + " without replying");

  boost::system::error_code ec;
  auto value = boost::json::parse(reply, ec);
  if (ec || !value.is_object()) return unreachable("the reply on " + shown + " is not a JSON object: " + reply.substr(0, 200));
  control_answer a;
  a.status = control_answer::state::running;
  a.reply = std::move(value.get_object());
  return a;
}

}  // namespace hindsight::cli
