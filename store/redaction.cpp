#include "store/redaction.hpp"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <utility>

namespace hindsight::store {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Field names compare case-insensitively with '-' and '_' alike: X-Api-Key ~ x_api_key.
std::string normalise(std::string_view name) {
  std::string n(name);
  for (char& c : n) c = c == '-' ? '_' : lower(c);
  return n;
}

// A name as it goes into the list of what was scrubbed: control bytes would garble
// the terminal that `hindsight show` prints to.
std::string printable(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  return out;
}

// ---------------------------------------------------------------------------------
// Card numbers

// Digits with optional space or dash separators, 13–19 digits (ISO/IEC 7812), passing
// the Luhn check. An all-zero string passes Luhn trivially and is padding, not a card.
bool is_card_number(std::string_view s) {
  int digits = 0;
  int sum = 0;
  bool any_nonzero = false;
  // Luhn: from the rightmost digit, double every second one.
  for (auto it = s.rbegin(); it != s.rend(); ++it) {
    char c = *it;
    if (c == ' ' || c == '-') continue;
    if (c < '0' || c > '9') return false;
    int d = c - '0';
    if (d != 0) any_nonzero = true;
    if (digits % 2 == 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    if (++digits > 19) return false;
  }
  // Separators must separate: " 4111…" or "4111--1111" is not how a card is written.
  if (s.empty() || s.front() == ' ' || s.front() == '-' || s.back() == ' ' || s.back() == '-') return false;
  return digits >= 13 && any_nonzero && sum % 10 == 0;
}

// ---------------------------------------------------------------------------------
// application/x-www-form-urlencoded (the query, and form bodies)

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The WHATWG urlencoded parser's decoding: '+' is a space, %XX a byte, a '%' not
// followed by two hex digits stays as it is.
std::string form_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

constexpr std::string_view encoded_marker = "%5Bredacted%5D";

// Scrubs the values of the pairs in an urlencoded string. Everything not scrubbed keeps
// its bytes; returns nullopt when nothing was scrubbed.
std::optional<std::string> scrub_urlencoded(std::string_view in, std::string_view where, const redaction_rules& rules,
                                            std::vector<std::string>& scrubbed) {
  std::string out;
  out.reserve(in.size());
  bool changed = false;
  std::size_t start = 0;
  while (start <= in.size()) {
    std::size_t amp = in.find('&', start);
    std::string_view pair = in.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    std::size_t eq = pair.find('=');
    bool done = false;
    if (eq != std::string_view::npos && eq + 1 < pair.size()) {
      std::string name = form_decode(pair.substr(0, eq));
      std::string_view value = pair.substr(eq + 1);
      bool by_name = rules.matches(name);
      if (by_name || is_card_number(form_decode(value))) {
        out.append(pair.substr(0, eq + 1)).append(encoded_marker);
        scrubbed.push_back(std::string(where) + ":" + printable(name) + (by_name ? "" : "(card)"));
        changed = true;
        done = true;
      }
    }
    if (!done) out.append(pair);
    if (amp == std::string_view::npos) break;
    out += '&';
    start = amp + 1;
  }
  if (!changed) return std::nullopt;
  return out;
}

// ---------------------------------------------------------------------------------
// Header blocks and their parameters

// The value of the first field of this name in a "Name: value\r\n…" block.
std::optional<std::string_view> header_value(std::string_view block, std::string_view name) {
  std::size_t start = 0;
  while (start < block.size()) {
    std::size_t end = block.find('\n', start);
    std::string_view line = block.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    std::size_t colon = line.find(':');
    if (colon != std::string_view::npos && iequals(line.substr(0, colon), name)) return trim(line.substr(colon + 1));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return std::nullopt;
}

// "type/subtype; a=1; b=\"x;y\"" → lowercased "type/subtype" and parameters, quoted
// strings unquoted (RFC 9110 §5.6.4, §5.6.6). Parameter names are lowercased.
struct parameterised_value {
  std::string value;
  std::vector<std::pair<std::string, std::string>> params;

  std::optional<std::string_view> param(std::string_view name) const {
    for (const auto& [k, v] : params)
      if (k == name) return std::string_view(v);
    return std::nullopt;
  }
};

parameterised_value parse_parameterised(std::string_view s) {
  parameterised_value out;
  std::size_t semi = s.find(';');
  out.value = std::string(trim(s.substr(0, semi)));
  for (char& c : out.value) c = lower(c);
  std::size_t i = semi == std::string_view::npos ? s.size() : semi + 1;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == ';')) ++i;
    std::size_t name_start = i;
    while (i < s.size() && s[i] != '=' && s[i] != ';') ++i;
    std::string name(trim(s.substr(name_start, i - name_start)));
    for (char& c : name) c = lower(c);
    std::string value;
    if (i < s.size() && s[i] == '=') {
      ++i;
      while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
      if (i < s.size() && s[i] == '"') {
        ++i;
        while (i < s.size() && s[i] != '"') {
          if (s[i] == '\\' && i + 1 < s.size()) ++i;
          value += s[i++];
        }
        if (i < s.size()) ++i;  // the closing quote
        while (i < s.size() && s[i] != ';') ++i;
      } else {
        std::size_t value_start = i;
        while (i < s.size() && s[i] != ';') ++i;
        value = std::string(trim(s.substr(value_start, i - value_start)));
      }
    }
    if (!name.empty()) out.params.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

// A body with a Content-Encoding (gzip, br…) cannot be read as its media type.
bool has_content_coding(std::string_view headers) {
  auto coding = header_value(headers, "content-encoding");
  return coding && !coding->empty() && !iequals(*coding, "identity");
}

bool is_json_type(std::string_view media_type) {
  if (media_type == "application/json") return true;
  std::size_t slash = media_type.find('/');
  return slash != std::string_view::npos && media_type.size() >= 5 &&
         media_type.substr(media_type.size() - 5) == "+json";
}

// ---------------------------------------------------------------------------------
// multipart/form-data (RFC 7578, RFC 2046 §5.1.1)

struct splice {
  std::size_t pos;
  std::size_t len;
  std::string_view with;
};

std::optional<std::string> scrub_multipart(std::string_view body, std::string_view boundary, const redaction_rules& rules,
                                           std::vector<std::string>& scrubbed) {
  if (boundary.empty()) return std::nullopt;
  const std::string delimiter = "--" + std::string(boundary);
  const std::string next_delimiter = "\r\n" + delimiter;

  // The first delimiter is at the start of the body or after the preamble's CRLF.
  std::size_t pos;
  if (body.substr(0, delimiter.size()) == delimiter) {
    pos = 0;
  } else {
    pos = body.find(next_delimiter);
    if (pos == std::string_view::npos) return std::nullopt;
    pos += 2;
  }

  std::vector<splice> splices;
  while (true) {
    pos += delimiter.size();
    if (body.substr(pos, 2) == "--") break;  // the close delimiter
    std::size_t line_end = body.find("\r\n", pos);  // after transport padding
    if (line_end == std::string_view::npos) break;
    std::size_t part_start = line_end + 2;
    std::size_t part_end = body.find(next_delimiter, part_start);
    bool last = part_end == std::string_view::npos;  // a body cut short: the part runs to the end
    if (last) part_end = body.size();
    std::string_view part = body.substr(part_start, part_end - part_start);

    std::size_t headers_end;
    std::size_t content_start;
    if (part.substr(0, 2) == "\r\n") {
      headers_end = 0;
      content_start = 2;
    } else {
      headers_end = part.find("\r\n\r\n");
      content_start = headers_end + 4;
    }
    if (headers_end != std::string_view::npos) {
      std::string part_headers(part.substr(0, headers_end));
      part_headers += "\r\n";
      std::string_view content = part.substr(content_start);
      auto disposition = header_value(part_headers, "content-disposition");
      if (disposition) {
        auto parsed = parse_parameterised(*disposition);
        std::string name(parsed.param("name").value_or(""));
        bool is_file = parsed.param("filename") || parsed.param("filename*");
        bool by_name = !name.empty() && rules.matches(name);
        bool by_card = !by_name && !is_file && is_card_number(content);
        if ((by_name || by_card) && !content.empty()) {
          splices.push_back({part_start + content_start, content.size(), redaction_marker});
          scrubbed.push_back("multipart:" + printable(name) + (by_card ? "(card)" : ""));
        }
      }
    }
    if (last) break;
    pos = part_end + 2;
  }

  if (splices.empty()) return std::nullopt;
  std::string out;
  out.reserve(body.size());
  std::size_t copied = 0;
  for (const auto& s : splices) {
    out.append(body.substr(copied, s.pos - copied)).append(s.with);
    copied = s.pos + s.len;
  }
  out.append(body.substr(copied));
  return out;
}

// ---------------------------------------------------------------------------------
// JSON (RFC 8259)
//
// The body is scanned, not rebuilt: a capture is replayed, so every byte outside a
// scrubbed value stays as the client sent it — numbers beyond double precision, "0.1",
// escapes, whitespace and repeated keys alike. Each scrubbed value's byte range is
// replaced with the JSON string "[redacted]", which keeps the document JSON.
//
// The scanner is strict (what a conforming parser such as Boost.JSON accepts: UTF-8,
// no lone surrogates, no comments or trailing commas) and loops with an explicit stack
// of at most json_max_depth open containers, so a hostile body cannot exhaust the stack.
// Anything it does not accept is left as it is and not claimed as scrubbed.

constexpr std::size_t json_max_depth = 256;
constexpr std::size_t none = static_cast<std::size_t>(-1);

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// The length of the well-formed UTF-8 sequence at s[i] (Unicode Table 3-7: no overlong
// forms, no encoded surrogates, nothing past U+10FFFF), or 0.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) -> unsigned { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  auto in = [](unsigned b, unsigned lo, unsigned hi) { return b >= lo && b <= hi; };
  auto tail = [&](unsigned b) { return in(b, 0x80, 0xBF); };
  const unsigned c = byte(0);
  if (c < 0x80) return 1;
  if (in(c, 0xC2, 0xDF)) return tail(byte(1)) ? 2 : 0;
  if (c == 0xE0) return in(byte(1), 0xA0, 0xBF) && tail(byte(2)) ? 3 : 0;
  if (in(c, 0xE1, 0xEC) || in(c, 0xEE, 0xEF)) return tail(byte(1)) && tail(byte(2)) ? 3 : 0;
  if (c == 0xED) return in(byte(1), 0x80, 0x9F) && tail(byte(2)) ? 3 : 0;
  if (c == 0xF0) return in(byte(1), 0x90, 0xBF) && tail(byte(2)) && tail(byte(3)) ? 4 : 0;
  if (in(c, 0xF1, 0xF3)) return tail(byte(1)) && tail(byte(2)) && tail(byte(3)) ? 4 : 0;
  if (c == 0xF4) return in(byte(1), 0x80, 0x8F) && tail(byte(2)) && tail(byte(3)) ? 4 : 0;
  return 0;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class json_scanner {
 public:
  // A value to scrub: doc[begin, end), found at path (dotted, as "cards[0].number").
  struct hit {
    std::size_t begin;
    std::size_t end;
    std::string path;
    bool card;  // a card number under a name that is not a secret's
  };

  json_scanner(std::string_view doc, const redaction_rules& rules) : doc_(doc), rules_(rules) {}

  // Whether the whole body is one JSON text; hits() is then what to scrub, in document
  // order and not overlapping.
  bool scan();
  const std::vector<hit>& hits() const { return hits_; }

 private:
  struct frame {
    bool object;
    std::size_t path_len;     // the container's own path is path_.substr(0, path_len)
    std::size_t index = 0;    // an array's current element
    std::size_t hit = none;   // hits_[hit] when the container is scrubbed as a whole
  };

  bool at(char c) const { return pos_ < doc_.size() && doc_[pos_] == c; }

  void skip_whitespace() {
    while (pos_ < doc_.size() && (doc_[pos_] == ' ' || doc_[pos_] == '\t' || doc_[pos_] == '\n' || doc_[pos_] == '\r'))
      ++pos_;
  }

  bool read_hex4(std::uint32_t& out) {
    if (doc_.size() - pos_ < 4) return false;
    out = 0;
    for (int k = 0; k < 4; ++k) {
      int v = hex_value(doc_[pos_++]);
      if (v < 0) return false;
      out = out * 16 + static_cast<std::uint32_t>(v);
    }
    return true;
  }

  // The string at pos_ (its opening quote), decoded into out when decode is set.
  bool read_string(bool decode, std::string& out) {
    out.clear();
    ++pos_;
    while (pos_ < doc_.size()) {
      // A run of plain ASCII, copied at once.
      std::size_t run = pos_;
      while (run < doc_.size()) {
        auto u = static_cast<unsigned char>(doc_[run]);
        if (u < 0x20 || u >= 0x80 || u == '"' || u == '\\') break;
        ++run;
      }
      if (decode) out.append(doc_.substr(pos_, run - pos_));
      pos_ = run;
      if (pos_ == doc_.size()) return false;

      auto c = static_cast<unsigned char>(doc_[pos_]);
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return false;  // control characters must be escaped
      if (c >= 0x80) {
        std::size_t n = utf8_sequence_length(doc_, pos_);
        if (n == 0) return false;
        if (decode) out.append(doc_.substr(pos_, n));
        pos_ += n;
        continue;
      }
      // An escape.
      if (++pos_ == doc_.size()) return false;
      char e = doc_[pos_++];
      char simple = 0;
      switch (e) {
        case '"': simple = '"'; break;
        case '\\': simple = '\\'; break;
        case '/': simple = '/'; break;
        case 'b': simple = '\b'; break;
        case 'f': simple = '\f'; break;
        case 'n': simple = '\n'; break;
        case 'r': simple = '\r'; break;
        case 't': simple = '\t'; break;
        case 'u': break;
        default: return false;
      }
      if (e != 'u') {
        if (decode) out += simple;
        continue;
      }
      std::uint32_t cp = 0;
      if (!read_hex4(cp)) return false;
      if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a trailing surrogate alone
      if (cp >= 0xD800 && cp <= 0xDBFF) {               // must be followed by its pair
        if (doc_.substr(pos_, 2) != "\\u") return false;
        pos_ += 2;
        std::uint32_t low = 0;
        if (!read_hex4(low) || low < 0xDC00 || low > 0xDFFF) return false;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
      }
      if (decode) append_utf8(out, cp);
    }
    return false;
  }

  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; plain when a non-negative integer.
  bool read_number(bool& plain) {
    auto digits = [&] {
      std::size_t start = pos_;
      while (pos_ < doc_.size() && is_digit(doc_[pos_])) ++pos_;
      return pos_ > start;
    };
    plain = true;
    if (at('-')) {
      ++pos_;
      plain = false;
    }
    if (at('0')) {
      ++pos_;
    } else if (!digits()) {
      return false;
    }
    if (at('.')) {
      ++pos_;
      plain = false;
      if (!digits()) return false;
    }
    if (at('e') || at('E')) {
      ++pos_;
      plain = false;
      if (at('+') || at('-')) ++pos_;
      if (!digits()) return false;
    }
    return true;
  }

  bool read_literal(std::string_view word) {
    if (doc_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  // `"key" :` in the object on top of the stack; the next value's path and whether
  // its name is a secret's.
  bool read_key(const frame& object, bool quiet) {
    skip_whitespace();
    if (!at('"') || !read_string(true, text_)) return false;
    skip_whitespace();
    if (!at(':')) return false;
    ++pos_;
    path_.resize(object.path_len);
    if (!path_.empty()) path_ += '.';
    path_ += text_;
    by_name_ = !quiet && rules_.matches(text_);
    return true;
  }

  void element_path(const frame& array) {
    path_.resize(array.path_len);
    char digits[24];
    auto [end, ec] = std::to_chars(std::begin(digits), std::end(digits), array.index);
    (void)ec;
    path_ += '[';
    path_.append(digits, end);
    path_ += ']';
    by_name_ = false;
  }

  std::string_view doc_;
  const redaction_rules& rules_;
  std::size_t pos_ = 0;
  std::string path_;   // of the value being read
  bool by_name_ = false;  // the value being read is under a secret's name
  std::string text_;   // a decoded string
  std::vector<hit> hits_;
};

bool json_scanner::scan() {
  std::vector<frame> stack;
  // Inside a container scrubbed as a whole (from stack[quiet_from] up) nothing is a
  // hit of its own; it is still read, to know the document is JSON and where it ends.
  std::size_t quiet_from = none;

  while (true) {
    // A value.
    skip_whitespace();
    const bool quiet = quiet_from != none;
    const std::size_t begin = pos_;
    if (pos_ == doc_.size()) return false;
    const char c = doc_[pos_];
    bool closed = true;  // a scalar or an empty container: what follows belongs to the parent
    if (c == '{' || c == '[') {
      if (stack.size() == json_max_depth) return false;
      frame f{c == '{', path_.size()};
      // Under a secret's name, a container is scrubbed whole (its size and shape too).
      if (by_name_ && !quiet) {
        f.hit = hits_.size();
        hits_.push_back({begin, none, path_, false});
        quiet_from = stack.size();
      }
      stack.push_back(f);
      ++pos_;
      skip_whitespace();
      if (at(f.object ? '}' : ']')) {
        ++pos_;
        if (f.hit != none) hits_[f.hit].end = pos_;
        if (quiet_from == stack.size() - 1) quiet_from = none;
        path_.resize(f.path_len);
        stack.pop_back();
      } else {
        closed = false;
        if (f.object) {
          if (!read_key(stack.back(), quiet_from != none)) return false;
        } else {
          element_path(stack.back());
        }
      }
    } else if (c == '"') {
      // null, booleans and empty strings hold no secret: "password": "" stays readable.
      const bool check_card = !quiet && !by_name_;
      if (!read_string(check_card, text_)) return false;
      if (!quiet && by_name_ && pos_ - begin > 2)
        hits_.push_back({begin, pos_, path_, false});
      else if (check_card && is_card_number(text_))
        hits_.push_back({begin, pos_, path_, true});
    } else if (c == '-' || is_digit(c)) {
      bool plain = false;
      if (!read_number(plain)) return false;
      if (!quiet && by_name_)
        hits_.push_back({begin, pos_, path_, false});
      else if (!quiet && plain && is_card_number(doc_.substr(begin, pos_ - begin)))
        hits_.push_back({begin, pos_, path_, true});
    } else if (!(read_literal("true") || read_literal("false") || read_literal("null"))) {
      return false;
    }
    if (!closed) continue;

    // After a value: a separator, or the end of its container (and maybe of more).
    while (true) {
      skip_whitespace();
      if (stack.empty()) return pos_ == doc_.size();
      frame& top = stack.back();
      if (at(',')) {
        ++pos_;
        if (top.object) {
          if (!read_key(top, quiet_from != none)) return false;
        } else {
          ++top.index;
          element_path(top);
        }
        break;
      }
      if (!at(top.object ? '}' : ']')) return false;
      ++pos_;
      if (top.hit != none) hits_[top.hit].end = pos_;
      if (quiet_from == stack.size() - 1) quiet_from = none;
      path_.resize(top.path_len);
      stack.pop_back();
    }
  }
}

std::optional<std::string> scrub_json(std::string_view body, std::string_view where, const redaction_rules& rules,
                                      std::vector<std::string>& scrubbed) {
  json_scanner scanner(body, rules);
  // A body cut short, or not JSON after all: left as it is, and not claimed as scrubbed.
  if (!scanner.scan() || scanner.hits().empty()) return std::nullopt;
  std::string out;
  out.reserve(body.size());
  std::size_t copied = 0;
  for (const auto& h : scanner.hits()) {
    out.append(body.substr(copied, h.begin - copied)).append("\"").append(redaction_marker).append("\"");
    copied = h.end;
    scrubbed.push_back(std::string(where) + ":" + printable(h.path) + (h.card ? "(card)" : ""));
  }
  out.append(body.substr(copied));
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------

redaction_rules redaction_rules::defaults() {
  redaction_rules rules;
  for (std::string_view name : {"password", "passwd", "secret", "api_key", "apikey", "private_key", "credentials"})
    rules.add(std::string(name));
  return rules;
}

void redaction_rules::add(std::string name) {
  std::string n = normalise(name);
  if (n.empty() || std::find(names_.begin(), names_.end(), n) != names_.end()) return;
  names_.push_back(std::move(n));
}

void redaction_rules::keep(std::string_view name) {
  std::string n = normalise(name);
  names_.erase(std::remove(names_.begin(), names_.end(), n), names_.end());
}

bool redaction_rules::matches(std::string_view field_name) const {
  if (names_.empty()) return false;
  std::string n = normalise(field_name);
  return std::any_of(names_.begin(), names_.end(), [&](const std::string& rule) { return n.find(rule) != std::string::npos; });
}

std::vector<std::string> redact(capture& c, const redaction_rules& rules) {
  std::vector<std::string> scrubbed;

  // The query of the request-target (RFC 9112 §3.2); a fragment is not sent, but if a
  // client sent one anyway it is kept apart.
  if (std::size_t q = c.target.find('?'); q != std::string::npos) {
    std::size_t hash = c.target.find('#', q + 1);
    std::string_view query = std::string_view(c.target).substr(q + 1, hash == std::string::npos ? std::string::npos : hash - q - 1);
    if (auto scrubbed_query = scrub_urlencoded(query, "query", rules, scrubbed)) {
      std::string target = c.target.substr(0, q + 1) + *scrubbed_query;
      if (hash != std::string::npos) target += c.target.substr(hash);
      c.target = std::move(target);
    }
  }

  if (!c.request_body.empty() && !has_content_coding(c.request_headers)) {
    if (auto content_type = header_value(c.request_headers, "content-type")) {
      auto type = parse_parameterised(*content_type);
      std::optional<std::string> body;
      if (type.value == "application/x-www-form-urlencoded")
        body = scrub_urlencoded(c.request_body, "form", rules, scrubbed);
      else if (type.value == "multipart/form-data")
        body = scrub_multipart(c.request_body, type.param("boundary").value_or(""), rules, scrubbed);
      else if (is_json_type(type.value))
        body = scrub_json(c.request_body, "json", rules, scrubbed);
      if (body) c.request_body = std::move(*body);
    }
  }

  if (!c.response_body.empty() && !has_content_coding(c.response_headers)) {
    if (auto content_type = header_value(c.response_headers, "content-type")) {
      if (is_json_type(parse_parameterised(*content_type).value)) {
        if (auto body = scrub_json(c.response_body, "response-json", rules, scrubbed)) c.response_body = std::move(*body);
      }
    }
  }

  // The same name scrubbed twice (a repeated field, or in query and body alike) is
  // listed once, where it was first found.
  std::vector<std::string> unique;
  for (auto& s : scrubbed)
    if (std::find(unique.begin(), unique.end(), s) == unique.end()) unique.push_back(std::move(s));
  return unique;
}

bool is_credential_header(std::string_view name) {
  std::string n = normalise(name);  // lowercase, '-' as '_'
  for (std::string_view exact : {"authorization", "proxy_authorization", "cookie", "set_cookie"})
    if (n == exact) return true;
  // CSRF tokens (Django's X-CSRFToken, Angular's X-XSRF-TOKEN) are not credentials: they
  // prove nothing without the session cookie, which is masked, and seeing them is what
  // debugging a 403 on a form post needs.
  if (n.find("csrf") != std::string::npos || n.find("xsrf") != std::string::npos) return false;
  for (std::string_view part : {"authorization", "cookie", "token", "secret", "api_key", "apikey", "password", "passwd",
                                "session", "credential", "private_key"})
    if (n.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace hindsight::store
