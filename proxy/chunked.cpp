#include "proxy/chunked.hpp"

namespace hindsight::proxy {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool extension_char(char ch) {
  auto c = static_cast<unsigned char>(ch);
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

}  // namespace

bool forbidden_in_trailers(std::string_view name) {
  static constexpr std::string_view names[] = {
      "transfer-encoding", "content-length", "host",          "trailer",      "connection",
      "keep-alive",        "upgrade",        "te",            "expect",       "max-forwards",
      "range",             "content-encoding", "content-type", "content-range", "authorization",
      "proxy-authorization", "cookie",        "set-cookie",    "cache-control"};
  for (auto n : names)
    if (iequals(name, n)) return true;
  return false;
}

std::size_t format_chunk_size(char* buf, std::size_t n) {
  static constexpr char hex[] = "0123456789abcdef";
  char tmp[16];
  std::size_t len = 0;
  do {
    tmp[len++] = hex[n & 15];
    n >>= 4;
  } while (n);
  for (std::size_t i = 0; i < len; ++i) buf[i] = tmp[len - 1 - i];
  buf[len] = '\r';
  buf[len + 1] = '\n';
  return len + 2;
}

std::size_t chunked_decoder::fail(std::size_t consumed, std::string why) {
  state_ = state::failed;
  error_ = std::move(why);
  return consumed;
}

bool chunked_decoder::finish_trailers() {
  if (trailer_section_ == "\r\n") return true;
  std::vector<field> fields;
  head_error e;
  auto n = parse_field_block(trailer_section_, fields, 100, e);
  if (n != trailer_section_.size()) {
    error_ = "malformed trailer section: " + e.reason;
    return false;
  }
  for (auto& f : fields) {
    if (forbidden_in_trailers(f.name)) {
      error_ = "the field '" + std::string(f.name) + "' is not allowed in a trailer section (RFC 9110 §6.5.1)";
      return false;
    }
    trailers_.append(f.name).append(": ").append(f.value).append("\r\n");
  }
  return true;
}

std::size_t chunked_decoder::feed(std::string_view in, std::vector<std::string_view>& data) {
  std::size_t i = 0;
  while (i < in.size()) {
    char c = in[i];
    switch (state_) {
      case state::size: {
        int h = hex_value(c);
        if (h >= 0) {
          if (digits_ > 0 || h > 0) ++digits_;
          // 15 hex digits keep sizes below 2^60: far beyond any body, far from overflow.
          if (digits_ > 15) return fail(i, "a chunk size is too large");
          remaining_ = remaining_ * 16 + static_cast<unsigned>(h);
          saw_digit_ = true;
        } else if (!saw_digit_) {
          return fail(i, "a chunk size must start with a hexadecimal digit");
        } else if (c == ';') {
          state_ = state::extension;
        } else if (c == ' ' || c == '\t') {
          state_ = state::size_ws;  // BWS is allowed only before a chunk extension
        } else if (c == '\r') {
          state_ = state::size_lf;
        } else {
          return fail(i, "an invalid character in a chunk size");
        }
        break;
      }
      case state::size_ws:
        if (c == ';') state_ = state::extension;
        else if (c != ' ' && c != '\t') return fail(i, "whitespace after a chunk size not followed by an extension");
        break;
      case state::extension:
        if (c == '\r') state_ = state::size_lf;
        else if (!extension_char(c)) return fail(i, "a control character in a chunk extension");
        break;
      case state::size_lf:
        if (c != '\n') return fail(i, "a chunk-size line not ended by CRLF");
        line_length_ = 0;
        saw_digit_ = false;
        digits_ = 0;
        state_ = remaining_ == 0 ? state::trailer : state::data;
        ++i;
        continue;
      case state::data: {
        auto n = std::min<std::uint64_t>(remaining_, in.size() - i);
        data.push_back(in.substr(i, n));
        remaining_ -= n;
        i += n;
        if (remaining_ == 0) state_ = state::data_cr;
        continue;
      }
      case state::data_cr:
        if (c != '\r') return fail(i, "chunk data not followed by CRLF (the chunk size is wrong)");
        state_ = state::data_lf;
        break;
      case state::data_lf:
        if (c != '\n') return fail(i, "chunk data not followed by CRLF (the chunk size is wrong)");
        state_ = state::size;
        break;
      case state::trailer: {
        trailer_section_ += c;
        ++i;
        auto& t = trailer_section_;
        if (t.size() > max_trailer_section) return fail(i, "the trailer section is too large");
        if (c == '\n') {
          if (t.size() < 2 || t[t.size() - 2] != '\r') return fail(i, "a bare LF in the trailer section");
          if (t == "\r\n" || t.ends_with("\r\n\r\n")) {
            if (!finish_trailers()) return fail(i, error_);
            state_ = state::done;
            return i;
          }
        }
        continue;
      }
      case state::done: return i;
      case state::failed: return i;
    }
    if (state_ == state::size || state_ == state::size_ws || state_ == state::extension || state_ == state::size_lf) {
      if (++line_length_ > max_size_line) return fail(i, "a chunk-size line is too long");
    }
    ++i;
  }
  return i;
}

}  // namespace hindsight::proxy
