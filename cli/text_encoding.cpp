#include "cli/text_encoding.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace hindsight::cli {
namespace {

// The length of the valid UTF-8 sequence at the start of `s` (RFC 3629 §4: no overlong
// forms, no surrogates, nothing above U+10FFFF), or 0 when it is not one.
std::size_t utf8_sequence_length(std::string_view s) {
  auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  auto cont = [&](std::size_t i) { return i < s.size() && (b(i) & 0xC0) == 0x80; };
  unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c < 0xC2) return 0;
  if (c < 0xE0) return cont(1) ? 2 : 0;
  if (c < 0xF0) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (c < 0xF5) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

char32_t decode_at(std::string_view s, std::size_t len) {
  auto c = static_cast<unsigned char>(s[0]);
  if (len == 1) return c;
  char32_t cp = c & (0x7F >> len);
  for (std::size_t i = 1; i < len; ++i) cp = (cp << 6) | (static_cast<unsigned char>(s[i]) & 0x3F);
  return cp;
}

}  // namespace

std::string latin1_to_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out += ch;
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

bool is_valid_utf8(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size();) {
    auto n = utf8_sequence_length(bytes.substr(i));
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string utf8_or_latin1(std::string_view bytes) {
  return is_valid_utf8(bytes) ? std::string(bytes) : latin1_to_utf8(bytes);
}

std::string escape_controls(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  char buf[12];
  for (std::size_t i = 0; i < s.size();) {
    auto n = utf8_sequence_length(s.substr(i));
    if (n == 0) {  // not UTF-8 after all: show the byte
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(s[i]));
      out += buf;
      ++i;
      continue;
    }
    char32_t cp = decode_at(s.substr(i), n);
    if (cp == '\t' || cp == '\n') {
      out += static_cast<char>(cp);
    } else if (cp == '\r' && i + 1 < s.size() && s[i + 1] == '\n') {
      // CRLF line ends read as lines.
    } else if (cp < 0x20 || cp == 0x7F) {
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(cp));
      out += buf;
    } else if (cp >= 0x80 && cp < 0xA0) {
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
      out += buf;
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

bool looks_like_text(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size();) {
    auto n = utf8_sequence_length(bytes.substr(i));
    if (n == 0) return false;
    char32_t cp = decode_at(bytes.substr(i), n);
    bool allowed = cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f';
    if (!allowed && (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0))) return false;
    i += n;
  }
  return true;
}

std::string base64_encode(std::string_view bytes) {
  static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k])); };
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (std::size_t rest = bytes.size() - i; rest > 0) {
    std::uint32_t v = at(i) << 16 | (rest == 2 ? at(i + 1) << 8 : 0);
    out += alphabet[v >> 18];
    out += alphabet[(v >> 12) & 63];
    out += rest == 2 ? alphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string hex_dump(std::string_view bytes, std::size_t max_bytes) {
  std::string out;
  char buf[32];
  std::size_t end = std::min(bytes.size(), max_bytes);
  for (std::size_t line = 0; line < end; line += 16) {
    std::snprintf(buf, sizeof buf, "%08zx  ", line);
    out += buf;
    for (std::size_t k = 0; k < 16; ++k) {
      if (line + k < end) {
        std::snprintf(buf, sizeof buf, "%02x ", static_cast<unsigned char>(bytes[line + k]));
        out += buf;
      } else {
        out += "   ";
      }
      if (k == 7) out += ' ';
    }
    out += " |";
    for (std::size_t k = 0; k < 16 && line + k < end; ++k) {
      auto c = static_cast<unsigned char>(bytes[line + k]);
      out += c >= 0x20 && c < 0x7F ? static_cast<char>(c) : '.';
    }
    out += "|\n";
  }
  return out;
}

std::size_t display_width(std::string_view s) {
  std::size_t n = 0;
  for (char c : s)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  return n;
}

std::string ellipsize_middle(std::string_view s, std::size_t width) {
  if (display_width(s) <= width) return std::string(s);
  if (width == 0) return {};
  std::size_t keep = width - 1;  // the columns left beside the "…"
  std::size_t head = (keep + 1) / 2, tail = keep - head;
  // Byte offsets of the code points that start the kept head's end and the tail.
  std::size_t head_end = 0, count = 0;
  while (head_end < s.size() && count < head) {
    ++head_end;
    while (head_end < s.size() && (static_cast<unsigned char>(s[head_end]) & 0xC0) == 0x80) ++head_end;
    ++count;
  }
  std::size_t tail_start = s.size();
  count = 0;
  while (tail_start > head_end && count < tail) {
    --tail_start;
    while (tail_start > head_end && (static_cast<unsigned char>(s[tail_start]) & 0xC0) == 0x80) --tail_start;
    ++count;
  }
  return std::string(s.substr(0, head_end)) + "…" + std::string(s.substr(tail_start));
}

std::size_t utf8_prefix_length(std::string_view bytes, std::size_t max_bytes) {
  if (bytes.size() <= max_bytes) return bytes.size();
  std::size_t n = max_bytes;
  // Step back over continuation bytes (at most three) to the start of the sequence that
  // straddles the cut.
  while (n > 0 && max_bytes - n < 3 && (static_cast<unsigned char>(bytes[n]) & 0xC0) == 0x80) --n;
  return (static_cast<unsigned char>(bytes[n]) & 0xC0) == 0x80 ? max_bytes : n;
}

}  // namespace hindsight::cli
