#pragma once
// The chunked transfer coding (RFC 9112 §7.1), decoded incrementally and without I/O.
//
// The proxy never forwards chunked bytes as received: it decodes them (refusing every
// malformed size, extension, line ending and forbidden trailer) and writes its own
// canonical encoding, so the app and the proxy cannot disagree on where a body ends.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http_head.hpp"

namespace hindsight::proxy {

class chunked_decoder {
 public:
  // The longest chunk-size line (size and extensions) and trailer section accepted.
  static constexpr std::size_t max_size_line = 4096;
  static constexpr std::size_t max_trailer_section = 16384;

  // Consumes bytes of `in` and appends the chunk data found to `data` (views into
  // `in`). Stops after the last chunk and its trailer section, so bytes of a following
  // message stay unconsumed. Returns the number of bytes consumed; check failed() after.
  std::size_t feed(std::string_view in, std::vector<std::string_view>& data);

  bool done() const { return state_ == state::done; }
  bool failed() const { return state_ == state::failed; }
  const std::string& error() const { return error_; }
  // The trailer fields, validated and re-serialised as "name: value\r\n" lines.
  const std::string& trailers() const { return trailers_; }

 private:
  enum class state { size, size_ws, extension, size_lf, data, data_cr, data_lf, trailer, done, failed };
  std::size_t fail(std::size_t consumed, std::string why);
  bool finish_trailers();

  state state_ = state::size;
  std::uint64_t remaining_ = 0;  // of the current chunk's data
  std::size_t digits_ = 0;       // significant hex digits of the current size
  bool saw_digit_ = false;
  std::size_t line_length_ = 0;
  std::string trailer_section_;  // raw, until the empty line that ends it
  std::string trailers_;
  std::string error_;
};

// Writes the chunk-size line for a chunk of n bytes ("1f40\r\n") into buf (at least 18
// bytes) and returns its length.
std::size_t format_chunk_size(char* buf, std::size_t n);

// Whether a field may not be sent in a trailer section (RFC 9110 §6.5.1): framing,
// routing, request modifiers, authentication and content format.
bool forbidden_in_trailers(std::string_view name);

}  // namespace hindsight::proxy
