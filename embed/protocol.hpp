// The worker protocol's frame codec (docs/worker-protocol.md): a length-prefixed JSON
// header followed by a length-prefixed binary body. No Python here, so the parent side
// (hindsight replay, the proxy) links it without libpython.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hindsight::protocol {

inline constexpr int version = 1;
inline constexpr std::uint32_t max_header_size = 16u << 20;  // 16 MiB
inline constexpr std::uint32_t max_body_size = 1u << 30;     // 1 GiB

struct frame {
  std::string header;  // a UTF-8 JSON object, as sent
  std::string body;
};

// Every failure other than a clean close at a frame boundary. After one, the
// connection is unusable: the receiver closes it.
class error : public std::runtime_error {
 public:
  enum class kind { peer_closed, too_large, timeout, bad_header, io };
  error(kind k, const std::string& what) : std::runtime_error(what), kind_(k) {}
  kind code() const noexcept { return kind_; }

 private:
  kind kind_;
};

// Writes one frame, blocking until all of it is written; EINTR-safe, SIGPIPE-free on
// sockets. Throws error (too_large for oversize parts, peer_closed on EPIPE, io otherwise).
void write_frame(int fd, std::string_view header, std::string_view body);

// Reads one frame. timeout_ms bounds the whole frame (-1: wait forever).
// nullopt: the peer closed cleanly before the first byte of a frame. Throws error
// otherwise: peer_closed mid-frame, too_large, timeout, bad_header (not a JSON object:
// the first non-blank character is not '{'), io.
std::optional<frame> read_frame(int fd, int timeout_ms);

}  // namespace hindsight::protocol
