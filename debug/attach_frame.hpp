#pragma once
// The frames of the attach socket (<data>/attach.sock, docs/attach-protocol.md): how
// `hindsight attach` and the running proxy's live debugger talk. One byte of type, a
// big-endian u32 length, then the payload. Header-only: both sides include it.
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hindsight::debug {

enum class attach_frame_type : char {
  // proxy → attach
  notice = 'N',         // a line for the developer (UTF-8, no trailing newline)
  session_start = 'S',  // JSON: {"method","target","client","rule","action"}
  output = 'O',         // bytes the debugged process wrote to its terminal
  session_end = 'E',    // JSON: {"status":int|null,"reason","outcome","message"}; then the proxy closes
  // attach → proxy
  input = 'I',          // bytes typed in the developer's terminal
  window = 'W',         // 4 bytes: rows, columns (big-endian u16 each)
};

// A larger payload is a protocol error: the receiver closes the connection.
constexpr std::uint32_t max_attach_payload = 1u << 20;

inline std::string encode_attach_frame(attach_frame_type type, std::string_view payload) {
  std::string out;
  out.reserve(5 + payload.size());
  out.push_back(static_cast<char>(type));
  auto n = static_cast<std::uint32_t>(payload.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((n >> shift) & 0xff));
  out.append(payload);
  return out;
}

struct attach_frame {
  attach_frame_type type;
  std::string payload;
};

// Takes one whole frame off the front of `buffer`: nullopt while more bytes are needed.
// Throws std::length_error for a payload over max_attach_payload.
inline std::optional<attach_frame> take_attach_frame(std::string& buffer) {
  if (buffer.size() < 5) return std::nullopt;
  std::uint32_t n = 0;
  for (int i = 1; i <= 4; ++i) n = (n << 8) | static_cast<unsigned char>(buffer[i]);
  if (n > max_attach_payload) throw std::length_error("attach frame of " + std::to_string(n) + " bytes");
  if (buffer.size() < 5 + static_cast<std::size_t>(n)) return std::nullopt;
  attach_frame f{static_cast<attach_frame_type>(buffer[0]), buffer.substr(5, n)};
  buffer.erase(0, 5 + n);
  return f;
}

inline std::string window_payload(unsigned rows, unsigned columns) {
  std::string p(4, '\0');
  p[0] = static_cast<char>((rows >> 8) & 0xff);
  p[1] = static_cast<char>(rows & 0xff);
  p[2] = static_cast<char>((columns >> 8) & 0xff);
  p[3] = static_cast<char>(columns & 0xff);
  return p;
}

}  // namespace hindsight::debug
