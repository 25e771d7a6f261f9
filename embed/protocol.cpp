#include "embed/protocol.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace hindsight::protocol {
namespace {

using clock = std::chrono::steady_clock;

std::string errno_text(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

void put_u32(char* out, std::uint32_t v) {
  out[0] = static_cast<char>((v >> 24) & 0xff);
  out[1] = static_cast<char>((v >> 16) & 0xff);
  out[2] = static_cast<char>((v >> 8) & 0xff);
  out[3] = static_cast<char>(v & 0xff);
}

std::uint32_t get_u32(const char* in) {
  auto b = [&](int i) { return static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])); };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

bool is_socket(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

void write_all(int fd, bool socket, const char* data, std::size_t size) {
  while (size > 0) {
    // MSG_NOSIGNAL: a closed peer is an error to report, not a signal that kills us.
    ssize_t n = socket ? ::send(fd, data, size, MSG_NOSIGNAL) : ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        pollfd p{fd, POLLOUT, 0};
        ::poll(&p, 1, -1);
        continue;
      }
      if (errno == EPIPE || errno == ECONNRESET)
        throw error(error::kind::peer_closed, "worker protocol: peer closed the connection while a frame was written");
      throw error(error::kind::io, errno_text("worker protocol: write failed", errno));
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

// Reads exactly size bytes. Returns false only if the peer closed before the first
// byte and at_boundary is set.
bool read_exact(int fd, char* data, std::size_t size, std::optional<clock::time_point> deadline,
                bool at_boundary) {
  std::size_t got = 0;
  while (got < size) {
    int wait_ms = -1;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - clock::now()).count();
      if (left <= 0) throw error(error::kind::timeout, "worker protocol: timed out waiting for a frame");
      wait_ms = static_cast<int>(std::min<long long>(left, 1 << 30));
    }
    pollfd p{fd, POLLIN, 0};
    int r = ::poll(&p, 1, wait_ms);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw error(error::kind::io, errno_text("worker protocol: poll failed", errno));
    }
    if (r == 0) continue;  // the deadline check above decides
    ssize_t n = ::read(fd, data + got, size - got);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      if (errno == ECONNRESET) {
        if (at_boundary && got == 0) return false;
        throw error(error::kind::peer_closed, "worker protocol: peer reset the connection in the middle of a frame");
      }
      throw error(error::kind::io, errno_text("worker protocol: read failed", errno));
    }
    if (n == 0) {
      if (at_boundary && got == 0) return false;
      throw error(error::kind::peer_closed, "worker protocol: peer closed the connection in the middle of a frame");
    }
    got += static_cast<std::size_t>(n);
  }
  return true;
}

bool looks_like_object(std::string_view header) {
  for (char c : header) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    return c == '{';
  }
  return false;
}

}  // namespace

void write_frame(int fd, std::string_view header, std::string_view body) {
  if (header.size() > max_header_size)
    throw error(error::kind::too_large, "worker protocol: header of " + std::to_string(header.size()) +
                                            " bytes exceeds the 16 MiB limit");
  if (body.size() > max_body_size)
    throw error(error::kind::too_large, "worker protocol: body of " + std::to_string(body.size()) +
                                            " bytes exceeds the 1 GiB limit");
  bool socket = is_socket(fd);
  char len[4];
  put_u32(len, static_cast<std::uint32_t>(header.size()));
  // Header and its length in one write when small: fewer syscalls, same bytes.
  std::string head;
  head.reserve(8 + header.size());
  head.append(len, 4);
  head.append(header);
  put_u32(len, static_cast<std::uint32_t>(body.size()));
  head.append(len, 4);
  if (body.size() <= 64 * 1024) {
    head.append(body);
    write_all(fd, socket, head.data(), head.size());
  } else {
    write_all(fd, socket, head.data(), head.size());
    write_all(fd, socket, body.data(), body.size());
  }
}

std::optional<frame> read_frame(int fd, int timeout_ms) {
  std::optional<clock::time_point> deadline;
  if (timeout_ms >= 0) deadline = clock::now() + std::chrono::milliseconds(timeout_ms);
  char len[4];
  if (!read_exact(fd, len, 4, deadline, true)) return std::nullopt;
  std::uint32_t header_size = get_u32(len);
  if (header_size > max_header_size)
    throw error(error::kind::too_large, "worker protocol: announced header of " + std::to_string(header_size) +
                                            " bytes exceeds the 16 MiB limit");
  frame f;
  f.header.resize(header_size);
  read_exact(fd, f.header.data(), header_size, deadline, false);
  if (!looks_like_object(f.header))
    throw error(error::kind::bad_header, "worker protocol: frame header is not a JSON object");
  read_exact(fd, len, 4, deadline, false);
  std::uint32_t body_size = get_u32(len);
  if (body_size > max_body_size)
    throw error(error::kind::too_large, "worker protocol: announced body of " + std::to_string(body_size) +
                                            " bytes exceeds the 1 GiB limit");
  f.body.resize(body_size);
  read_exact(fd, f.body.data(), body_size, deadline, false);
  return f;
}

}  // namespace hindsight::protocol
