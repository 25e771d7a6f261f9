#include "proxy/http_head.hpp"

#include <array>
#include <charconv>
#include <cstring>

namespace hindsight::proxy {
namespace {

constexpr std::string_view crlf = "\r\n";

// A byte table that holds the letters, the digits and the bytes of `others`.
constexpr std::array<bool, 256> alnum_and(std::string_view others) {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : others) t[static_cast<unsigned char>(c)] = true;
  return t;
}
// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
//       / DIGIT / ALPHA  (RFC 9110 §5.6.2)
constexpr auto tchar = alnum_and("!#$%&'*+-.^_`|~");

bool is_tchar(char c) { return tchar[static_cast<unsigned char>(c)]; }
bool is_ows(char c) { return c == ' ' || c == '\t'; }

// field-vchar / SP / HTAB (RFC 9110 §5.5): no CTL other than HTAB, no DEL.
bool is_field_value_char(char ch) {
  auto c = static_cast<unsigned char>(ch);
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

head_error err(int status, std::string reason) { return head_error{status, std::move(reason)}; }

parse_result failed(int status, std::string reason) {
  return parse_result{parse_state::failed, 0, err(status, std::move(reason))};
}

// A printable rendering of a few bytes of hostile input, for error messages.
std::string shown(std::string_view s) {
  std::string out;
  for (char ch : s.substr(0, 40)) {
    auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += ch;
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (s.size() > 40) out += "...";
  return out;
}

// Splits a comma-separated list (RFC 9110 §5.6.1), skipping empty elements as recipients must.
template <class F>
void for_each_list_element(std::string_view value, F&& f) {
  while (!value.empty()) {
    auto comma = value.find(',');
    auto element = trim_ows(value.substr(0, comma));
    if (!element.empty()) f(element);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

bool parse_decimal(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 18) return false;  // 18 digits stay far below 2^63
  for (char c : s)
    if (c < '0' || c > '9') return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

// reg-name = *( unreserved / pct-encoded / sub-delims ) (RFC 3986 §3.2.2); '%' stands
// for pct-encoded, and IPv4 addresses are made of the same bytes.
constexpr auto reg_name_char = alnum_and("-._~!$&'()*+,;=%");

// Host = uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2).
bool valid_host_value(std::string_view h) {
  if (h.empty()) return true;  // allowed when the target URI has no authority
  std::string_view host = h, port;
  if (h.front() == '[') {
    auto close = h.find(']');
    if (close == std::string_view::npos) return false;
    for (char c : h.substr(1, close - 1))
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.' || c == 'v' || c == 'V'))
        return false;
    auto rest = h.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
    }
  } else {
    auto colon = h.find(':');
    if (colon != std::string_view::npos) {
      host = h.substr(0, colon);
      port = h.substr(colon + 1);
    }
    if (host.empty()) return false;
    for (char c : host)
      if (!reg_name_char[static_cast<unsigned char>(c)]) return false;
  }
  for (char c : port)
    if (c < '0' || c > '9') return false;
  return port.size() <= 5;
}

// The index of the first byte at or after `from` that a field value may not hold (a CTL
// other than HTAB, or DEL; RFC 9110 §5.5), or s.size(). On a well-formed line that is its
// CR, so this one pass both finds the value's end and validates it. Eight bytes at a time
// while none is below 0x20 or DEL, then one by one through the word that has one.
std::size_t value_end(std::string_view s, std::size_t from) {
  constexpr std::uint64_t ones = 0x0101010101010101, highs = 0x8080808080808080;
  std::size_t i = from;
  const std::size_t n = s.size();
  while (i < n) {
    if (n - i >= 8) {
      std::uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      const std::uint64_t x = w ^ (0x7f * ones);
      // Any byte < 0x20, any byte == 0x7f (the classic "has less than" / "has zero" tests).
      const std::uint64_t suspect = (((w - 0x20 * ones) & ~w) | ((x - ones) & ~x)) & highs;
      if (suspect == 0) {
        i += 8;
        continue;
      }
    }
    for (const std::size_t stop = std::min(n, i + 8); i < stop; ++i)
      if (!is_field_value_char(s[i])) return i;
  }
  return n;
}

// Parses the field lines of `block`, which holds complete lines ending in CRLF (the
// final empty line excluded).
bool parse_field_lines(std::string_view block, std::vector<field>& out, std::size_t max_fields,
                       head_error& e) {
  while (!block.empty()) {
    if (is_ows(block.front())) {
      // RFC 9112 §5.2 (obs-fold) and §2.2 (whitespace between the start-line and the first field).
      e = err(400, "a field line starts with whitespace (obsolete line folding is not accepted): '" +
                       shown(block.substr(0, block.find(crlf))) + "'");
      return false;
    }
    std::size_t i = 0;
    while (i < block.size() && is_tchar(block[i])) ++i;
    if (i == block.size() || block[i] != ':' || i == 0) {
      auto line = block.substr(0, block.find(crlf));
      if (i >= line.size() || line.find(':', i) == std::string_view::npos)
        e = err(400, "a field line has no colon: '" + shown(line) + "'");
      else if (i == 0 && line[i] == ':')
        e = err(400, "a field line has an empty name: '" + shown(line) + "'");
      else if (is_ows(line[i]))
        e = err(400, "whitespace between a field name and its colon (RFC 9112 §5.1): '" + shown(line) + "'");
      else
        e = err(400, "invalid character in a field name (RFC 9110 §5.1): '" + shown(line) + "'");
      return false;
    }
    const auto end = value_end(block, i + 1);
    if (end + 1 >= block.size() || block[end] != '\r' || block[end + 1] != '\n') {
      auto line = block.substr(0, block.find(crlf));
      e = err(400, "a control character in the value of field '" + std::string(block.substr(0, i)) +
                       "' (RFC 9110 §5.5): '" + shown(line.substr(i + 1)) + "'");
      return false;
    }
    if (out.size() == max_fields) {
      e = err(431, "more than " + std::to_string(max_fields) + " header fields");
      return false;
    }
    out.push_back(field{block.substr(0, i), trim_ows(block.substr(i + 1, end - i - 1))});
    block.remove_prefix(end + 2);
  }
  return true;
}

// Locates the end of a head: the first CRLF CRLF at or after `from`. Bytes before `from`
// were already searched. A bare LF (not after CR) anywhere fails at once so that a client
// using LF line endings gets an answer instead of a timeout.
enum class scan { found, incomplete, bare_lf };
scan find_head_end(std::string_view data, std::size_t start, std::size_t& from, std::size_t& end) {
  for (std::size_t i = std::max(from, start); i < data.size(); ++i) {
    const char* p = static_cast<const char*>(std::memchr(data.data() + i, '\n', data.size() - i));
    if (!p) break;
    i = static_cast<std::size_t>(p - data.data());
    if (i == start || data[i - 1] != '\r') return scan::bare_lf;
    // An empty line: the LF ends "\r\n" that directly follows the previous line's "\r\n",
    // or the request line itself is followed by it.
    if (i >= start + 3 && data[i - 2] == '\n' && data[i - 3] == '\r') {
      end = i + 1;
      return scan::found;
    }
  }
  from = data.size();
  return scan::incomplete;
}

void collect_connection_options(std::string_view value, std::vector<std::string_view>& out, bool& valid) {
  for_each_list_element(value, [&](std::string_view token) {
    if (!is_token(token)) valid = false;
    out.push_back(token);
  });
}

bool has_option(const std::vector<std::string_view>& options, std::string_view name) {
  for (auto o : options)
    if (iequals(o, name)) return true;
  return false;
}

// Parses "HTTP/x.y" into 10 or 11; 0 for a well-formed but unsupported version, -1 when malformed.
int parse_version(std::string_view v) {
  if (v.size() != 8 || !v.starts_with("HTTP/") || v[6] != '.' || !std::isdigit(static_cast<unsigned char>(v[5])) ||
      !std::isdigit(static_cast<unsigned char>(v[7])))
    return -1;
  if (v[5] == '1' && v[7] == '1') return 11;
  if (v[5] == '1' && v[7] == '0') return 10;
  return 0;
}

// Resets a head for reuse, keeping the vectors' memory: a connection parses one head
// per request and should not allocate for it.
template <class Head>
void reset(Head& h) {
  auto fields = std::move(h.fields);
  auto options = std::move(h.connection_options);
  fields.clear();
  options.clear();
  h = Head{};
  h.fields = std::move(fields);
  h.connection_options = std::move(options);
}

}  // namespace

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_tchar(c)) return false;
  return true;
}

bool is_field_value(std::string_view s) {
  for (char c : s)
    if (!is_field_value_char(c)) return false;
  return true;
}

bool is_hop_by_hop(std::string_view name) {
  // RFC 9110 §7.6.1 names Connection, Proxy-Connection, Keep-Alive, TE, Transfer-Encoding
  // and Upgrade; Content-Length is the framing the proxy writes itself; Trailer announces
  // trailers of a chunked encoding the proxy re-creates. The length picks the candidates.
  switch (name.size()) {
    case 2: return iequals(name, "te");
    case 7: return iequals(name, "upgrade") || iequals(name, "trailer");
    case 10: return iequals(name, "connection") || iequals(name, "keep-alive");
    case 14: return iequals(name, "content-length");
    case 16: return iequals(name, "proxy-connection");
    case 17: return iequals(name, "transfer-encoding");
    default: return false;
  }
}

bool listed_in(const std::vector<std::string_view>& connection_options, std::string_view name) {
  return has_option(connection_options, name);
}

std::size_t parse_field_block(std::string_view data, std::vector<field>& out, std::size_t max_fields,
                              head_error& error) {
  if (data.starts_with(crlf)) return 2;
  std::size_t from = 0, end = 0;
  switch (find_head_end(data, 0, from, end)) {
    case scan::incomplete: return 0;
    case scan::bare_lf:
      error = err(400, "a bare LF in the trailer section");
      return static_cast<std::size_t>(-1);
    case scan::found: break;
  }
  if (!parse_field_lines(data.substr(0, end - 2), out, max_fields, error)) return static_cast<std::size_t>(-1);
  return end;
}

parse_result parse_request_head(std::string_view data, request_head& out, const head_limits& limits,
                                std::size_t* searched_hint) {
  reset(out);
  // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line.
  // A few (an old client's CRLF after a POST body) are fine; a stream of them is not a
  // request and must not be read forever.
  constexpr std::size_t max_empty_lines = 8;
  std::size_t start = 0;
  while (data.size() - start >= 2 && data.substr(start, 2) == crlf) {
    start += 2;
    if (start > 2 * max_empty_lines) return failed(400, "more than 8 empty lines before the request line");
  }
  if (start == data.size() || (data.size() - start == 1 && data[start] == '\r')) return {};
  if (data[start] == '\n') return failed(400, "a bare LF before the request line");

  std::size_t searched = searched_hint ? *searched_hint : start, end = 0;
  auto found = find_head_end(data, start, searched, end);
  if (searched_hint) *searched_hint = searched;
  switch (found) {
    case scan::bare_lf:
      return failed(400, "a bare LF as line terminator (RFC 9112 §2.2 requires CRLF here)");
    case scan::incomplete: {
      auto line_end = data.find(crlf, start);
      if (line_end == std::string_view::npos && data.size() - start > limits.max_request_line)
        return failed(414, "the request line is longer than " + std::to_string(limits.max_request_line) + " bytes");
      if (data.size() - start > limits.max_head_size)
        return failed(431, "the request head is larger than " + std::to_string(limits.max_head_size) + " bytes");
      return {};
    }
    case scan::found: break;
  }
  auto head = data.substr(start, end - start);
  auto line_end = head.find(crlf);
  if (line_end > limits.max_request_line)
    return failed(414, "the request line is longer than " + std::to_string(limits.max_request_line) + " bytes");
  if (head.size() > limits.max_head_size)
    return failed(431, "the request head is larger than " + std::to_string(limits.max_head_size) + " bytes");

  // request-line = method SP request-target SP HTTP-version (RFC 9112 §3)
  auto line = head.substr(0, line_end);
  std::size_t i = 0;
  while (i < line.size() && is_tchar(line[i])) ++i;
  if (i == 0 || i == line.size() || line[i] != ' ')
    return failed(400, "malformed request line (method): '" + shown(line) + "'");
  out.method = line.substr(0, i);
  auto rest = line.substr(i + 1);
  auto sp = rest.find(' ');
  if (sp == std::string_view::npos || sp == 0)
    return failed(400, "malformed request line (an HTTP/1.0 or HTTP/1.1 version is required): '" + shown(line) + "'");
  out.target = rest.substr(0, sp);
  for (char ch : out.target) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f)
      return failed(400, "a control character or whitespace in the request target: '" + shown(out.target) + "'");
  }
  auto version = rest.substr(sp + 1);
  if (version.find(' ') != std::string_view::npos)
    return failed(400, "the request line has more than three parts (whitespace in the target?): '" + shown(line) + "'");
  int v = parse_version(version);
  if (v < 0) return failed(400, "malformed HTTP version '" + shown(version) + "'");
  if (v == 0) return failed(505, "HTTP version '" + std::string(version) + "' is not supported (only 1.0 and 1.1)");
  out.version = v;

  head_error e;
  if (!parse_field_lines(head.substr(line_end + 2, head.size() - line_end - 4), out.fields, limits.max_fields, e))
    return parse_result{parse_state::failed, 0, e};

  // Semantics of the fields the proxy acts on.
  int host_count = 0, length_count = 0;
  std::string_view host_value, length_value, expect_value, upgrade_value;
  std::vector<std::string_view> codings;
  bool has_te = false, options_valid = true, codings_valid = true;
  for (auto& f : out.fields) {
    // The length picks the one name worth comparing: most fields are none of these.
    switch (f.name.size()) {
      case 4:
        if (iequals(f.name, "host")) {
          ++host_count;
          host_value = f.value;
        }
        break;
      case 14:
        if (iequals(f.name, "content-length")) {
          ++length_count;
          length_value = f.value;
        }
        break;
      case 17:
        if (iequals(f.name, "transfer-encoding")) {
          has_te = true;
          for_each_list_element(f.value, [&](std::string_view c) {
            // transfer-coding = token *( OWS ";" OWS transfer-parameter )
            auto name = trim_ows(c.substr(0, c.find(';')));
            if (!is_token(name)) codings_valid = false;
            codings.push_back(c);
          });
        }
        break;
      case 10:
        if (iequals(f.name, "connection")) collect_connection_options(f.value, out.connection_options, options_valid);
        break;
      case 6:
        if (iequals(f.name, "expect")) expect_value = f.value;
        break;
      case 7:
        if (iequals(f.name, "upgrade")) upgrade_value = f.value;
        break;
      default: break;
    }
  }
  if (!options_valid) return failed(400, "the Connection field holds something other than tokens");

  if (out.method == "CONNECT")
    return failed(405, "CONNECT is not supported: hindsight is a reverse proxy for one web application");

  // Request target forms (RFC 9112 §3.2).
  if (out.target.front() == '/') {
    if (out.target.find('#') != std::string_view::npos)
      return failed(400, "a fragment ('#') is not allowed in a request target");
    out.origin_target = out.target;
  } else if (out.target == "*") {
    if (out.method != "OPTIONS") return failed(400, "the asterisk-form target '*' is only valid for OPTIONS");
    out.origin_target = out.target;
  } else {
    auto scheme_end = out.target.find("://");
    auto scheme = out.target.substr(0, scheme_end);
    if (scheme_end == std::string_view::npos || !(iequals(scheme, "http") || iequals(scheme, "https")))
      return failed(400, "the request target '" + shown(out.target) + "' is neither a path nor an http(s) URI");
    auto after = out.target.substr(scheme_end + 3);
    auto authority_end = after.find_first_of("/?#");
    auto authority = after.substr(0, authority_end);
    if (authority.empty() || authority.find('@') != std::string_view::npos || !valid_host_value(authority))
      return failed(400, "the authority of the absolute-form target '" + shown(out.target) + "' is invalid");
    auto path = authority_end == std::string_view::npos ? std::string_view{} : after.substr(authority_end);
    if (path.find('#') != std::string_view::npos)
      return failed(400, "a fragment ('#') is not allowed in a request target");
    if (path.empty() || path.front() != '/') {
      // "http://host" and "http://host?q" name the path "/" (RFC 9112 §3.2.1).
      out.origin_target_storage.assign("/").append(path);
      out.origin_target = out.origin_target_storage;
    } else {
      out.origin_target = path;
    }
    out.host = authority;
    out.has_host = true;
  }

  // Host (RFC 9112 §3.2): exactly one on HTTP/1.1, and a valid authority.
  if (host_count > 1) return failed(400, "more than one Host field");
  if (host_count == 0 && out.version == 11) return failed(400, "an HTTP/1.1 request without a Host field");
  if (host_count == 1) {
    if (!valid_host_value(host_value)) return failed(400, "the Host field '" + shown(host_value) + "' is not a valid authority");
    if (!out.has_host) {
      out.host = host_value;
      out.has_host = true;
    }
  }

  // Framing (RFC 9112 §6.1, §6.3).
  if (has_te) {
    if (out.version == 10)
      return failed(400, "Transfer-Encoding on an HTTP/1.0 request (RFC 9112 §6.1: the framing is faulty)");
    if (length_count > 0)
      return failed(400, "both Transfer-Encoding and Content-Length (RFC 9112 §6.1: a request smuggling vector)");
    if (codings.empty() || !codings_valid) return failed(400, "a malformed Transfer-Encoding field");
    if (!iequals(codings.back(), "chunked"))
      return failed(400, "the final transfer coding of a request must be chunked (RFC 9112 §6.3), got '" +
                             shown(codings.back()) + "'");
    for (auto c : codings)
      if (!iequals(c, "chunked")) return failed(501, "the transfer coding '" + shown(c) + "' is not supported");
    if (codings.size() > 1) return failed(400, "chunked is applied more than once (RFC 9112 §7)");
    out.framing = body_framing::chunked;
  } else if (length_count > 1) {
    return failed(400, "more than one Content-Length field (RFC 9112 §6.3)");
  } else if (length_count == 1) {
    if (!parse_decimal(length_value, out.content_length))
      return failed(400, "the Content-Length '" + shown(length_value) + "' is not a decimal number of bytes");
    out.has_content_length = true;
    out.framing = out.content_length > 0 ? body_framing::content_length : body_framing::none;
  }

  if (!expect_value.empty() && out.version == 11) {
    if (!iequals(expect_value, "100-continue"))
      return failed(417, "the expectation '" + shown(expect_value) + "' cannot be met (only 100-continue is)");
    out.expect_continue = out.framing != body_framing::none;
  }

  bool close = has_option(out.connection_options, "close");
  out.keep_alive = out.version == 11 ? !close : (!close && has_option(out.connection_options, "keep-alive"));
  if (out.version == 11 && !upgrade_value.empty() && has_option(out.connection_options, "upgrade")) {
    out.upgrade = true;
    out.upgrade_protocol = upgrade_value;
  }
  return parse_result{parse_state::complete, end, {}};
}

parse_result parse_response_head(std::string_view data, std::string_view request_method, response_head& out,
                                 const head_limits& limits) {
  reset(out);
  std::size_t searched = 0, end = 0;
  switch (find_head_end(data, 0, searched, end)) {
    case scan::bare_lf: return failed(502, "the app sent a bare LF in its response head");
    case scan::incomplete:
      if (data.size() > limits.max_head_size)
        return failed(502, "the app's response head is larger than " + std::to_string(limits.max_head_size) + " bytes");
      return {};
    case scan::found: break;
  }
  if (end > limits.max_head_size)
    return failed(502, "the app's response head is larger than " + std::to_string(limits.max_head_size) + " bytes");
  auto head = data.substr(0, end);
  auto line_end = head.find(crlf);
  auto line = head.substr(0, line_end);
  // status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4); the SP
  // before an empty reason is often missing, so it is optional here.
  int v = parse_version(line.substr(0, 8));
  if (v <= 0 || line.size() < 12 || line[8] != ' ' || !std::isdigit(static_cast<unsigned char>(line[9])) ||
      !std::isdigit(static_cast<unsigned char>(line[10])) || !std::isdigit(static_cast<unsigned char>(line[11])) ||
      (line.size() > 12 && line[12] != ' '))
    return failed(502, "the app sent a malformed status line: '" + shown(line) + "'");
  out.version = v;
  out.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (out.status < 100) return failed(502, "the app sent status " + std::to_string(out.status));
  out.reason = line.size() > 13 ? line.substr(13) : std::string_view{};
  for (char c : out.reason)
    if (!is_field_value_char(c)) return failed(502, "a control character in the app's reason phrase");

  head_error e;
  if (!parse_field_lines(head.substr(line_end + 2, head.size() - line_end - 4), out.fields, limits.max_fields, e)) {
    e.status = 502;
    e.reason = "the app's response head is malformed: " + e.reason;
    return parse_result{parse_state::failed, 0, e};
  }

  bool has_te = false, options_valid = true, te_chunked_only = true;
  int te_count = 0;
  std::uint64_t length = 0;
  bool length_conflict = false;
  for (auto& f : out.fields) {
    // The length picks the one name worth comparing, as for requests.
    if (f.name.size() != 17 && f.name.size() != 14 && f.name.size() != 10) continue;
    if (iequals(f.name, "transfer-encoding")) {
      has_te = true;
      for_each_list_element(f.value, [&](std::string_view c) {
        ++te_count;
        if (!iequals(c, "chunked")) te_chunked_only = false;
      });
    } else if (iequals(f.name, "content-length")) {
      // RFC 9110 §8.6: a list of identical values may be taken as that value.
      for_each_list_element(f.value, [&](std::string_view element) {
        std::uint64_t n = 0;
        if (!parse_decimal(element, n) || (out.has_content_length && n != length)) length_conflict = true;
        length = n;
        out.has_content_length = true;
      });
      if (trim_ows(f.value).empty()) length_conflict = true;
    } else if (iequals(f.name, "connection")) {
      collect_connection_options(f.value, out.connection_options, options_valid);
    }
  }
  if (!options_valid) return failed(502, "the app's Connection field holds something other than tokens");
  bool close = has_option(out.connection_options, "close");
  out.keep_alive = v == 11 ? !close : (!close && has_option(out.connection_options, "keep-alive"));

  bool no_body = request_method == "HEAD" || out.status < 200 || out.status == 204 || out.status == 304;
  if (has_te && out.has_content_length)
    return failed(502, "the app sent both Transfer-Encoding and Content-Length");
  if (length_conflict) return failed(502, "the app sent an invalid or conflicting Content-Length");
  out.content_length = length;
  if (no_body) {
    out.framing = body_framing::none;
  } else if (has_te) {
    if (!te_chunked_only || te_count != 1)
      return failed(502, "the app used a transfer coding other than chunked");
    out.framing = body_framing::chunked;
  } else if (out.has_content_length) {
    out.framing = length > 0 ? body_framing::content_length : body_framing::none;
  } else {
    out.framing = body_framing::until_close;
    out.keep_alive = false;
  }
  return parse_result{parse_state::complete, end, {}};
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool form_decodes_to(std::string_view encoded, std::string_view plain) {
  std::size_t j = 0;
  for (std::size_t i = 0; i < encoded.size(); ++i, ++j) {
    char c = encoded[i];
    if (c == '+') c = ' ';
    else if (c == '%' && i + 2 < encoded.size() && hex_value(encoded[i + 1]) >= 0 && hex_value(encoded[i + 2]) >= 0) {
      c = static_cast<char>(hex_value(encoded[i + 1]) * 16 + hex_value(encoded[i + 2]));
      i += 2;
    }
    if (j >= plain.size() || plain[j] != c) return false;
  }
  return j == plain.size();
}

}  // namespace hindsight::proxy
