#include "replay/export.hpp"

#include <strings.h>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <cstdio>

#include "cli/capture_view.hpp"
#include "cli/text_encoding.hpp"
#include "cli/time_format.hpp"
#include "store/redaction.hpp"

namespace hindsight::replay {
namespace {

namespace json = boost::json;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

struct header {
  std::string name, value;  // bytes as stored; value masked unless revealed
};

std::vector<header> headers_of(std::string_view block, bool reveal) {
  std::vector<header> out;
  for (const auto& f : cli::split_header_fields(block)) {
    bool masked = !reveal && store::is_credential_header(f.name);
    out.push_back({std::string(f.name), masked ? std::string(store::mask_marker) : std::string(f.value)});
  }
  return out;
}

bool has_header(const std::vector<header>& hs, std::string_view name) {
  return std::any_of(hs.begin(), hs.end(), [&](const header& h) { return iequals(h.name, name); });
}

std::string header_value(const std::vector<header>& hs, std::string_view name) {
  for (const auto& h : hs)
    if (iequals(h.name, name)) return h.value;
  return {};
}

// The fields a client tool sends again: not hop-by-hop ones (RFC 9110 §7.6.1, with the
// options Connection names), not the framing (the tool computes Content-Length from
// the body it sends), not Expect (the proxy answered it), not Host (in the URL).
std::vector<header> end_to_end(const std::vector<header>& all) {
  std::vector<std::string> connection_options;
  for (const auto& h : all) {
    if (!iequals(h.name, "connection")) continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      auto comma = v.find(',');
      auto token = trim(v.substr(0, comma));
      if (!token.empty()) connection_options.emplace_back(token);
      v = comma == std::string_view::npos ? std::string_view{} : v.substr(comma + 1);
    }
  }
  std::vector<header> out;
  for (const auto& h : all) {
    bool drop = false;
    for (std::string_view n : {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                               "upgrade", "content-length", "expect", "host"})
      drop = drop || iequals(h.name, n);
    for (const auto& o : connection_options) drop = drop || iequals(h.name, o);
    if (!drop) out.push_back(h);
  }
  return out;
}

// Whether the request carried a body, even an empty one (POST with Content-Length: 0
// reaches the app with CONTENT_LENGTH "0", a GET without it with none).
bool has_body(const store::capture& c) {
  if (!c.request_body.empty()) return true;
  for (const auto& f : cli::split_header_fields(c.request_headers))
    if (iequals(f.name, "content-length") || iequals(f.name, "transfer-encoding")) return true;
  return false;
}

std::string version_text(const store::capture& c) { return c.version == 10 ? "HTTP/1.0" : "HTTP/1.1"; }

// --- curl ---

// printf's format: printable ASCII as is but for the characters printf and the single
// quotes give a meaning to, every other byte as \ooo (POSIX printf knows no \x).
std::string printf_format(std::string_view bytes) {
  std::string out;
  for (unsigned char b : bytes) {
    if (b >= 0x20 && b < 0x7f && b != '\\' && b != '%' && b != '\'') {
      out += static_cast<char>(b);
    } else {
      char esc[5];
      std::snprintf(esc, sizeof esc, "\\%03o", b);
      out += esc;
    }
  }
  return out;
}

// --- HAR ---

json::array name_values(const std::vector<header>& hs) {
  json::array out;
  for (const auto& h : hs)
    out.push_back(json::object{{"name", cli::latin1_to_utf8(h.name)}, {"value", cli::latin1_to_utf8(h.value)}});
  return out;
}

// "a=1; b=2" → [{a,1},{b,2}], each value masked unless revealed.
json::array request_cookies(const std::vector<header>& raw_headers, bool reveal) {
  json::array out;
  for (const auto& h : raw_headers) {
    if (!iequals(h.name, "cookie")) continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      auto semi = v.find(';');
      auto pair = trim(v.substr(0, semi));
      v = semi == std::string_view::npos ? std::string_view{} : v.substr(semi + 1);
      auto eq = pair.find('=');
      if (pair.empty() || eq == std::string_view::npos) continue;
      out.push_back(json::object{
          {"name", cli::latin1_to_utf8(trim(pair.substr(0, eq)))},
          {"value", reveal ? cli::latin1_to_utf8(trim(pair.substr(eq + 1))) : std::string(store::mask_marker)}});
    }
  }
  return out;
}

// Set-Cookie: name=value; Path=/; HttpOnly → {name, value, path, httpOnly, …}.
json::array response_cookies(const std::vector<header>& raw_headers, bool reveal) {
  json::array out;
  for (const auto& h : raw_headers) {
    if (!iequals(h.name, "set-cookie")) continue;
    std::string_view v = h.value;
    auto semi = v.find(';');
    auto pair = trim(v.substr(0, semi));
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    json::object cookie{
        {"name", cli::latin1_to_utf8(trim(pair.substr(0, eq)))},
        {"value", reveal ? cli::latin1_to_utf8(trim(pair.substr(eq + 1))) : std::string(store::mask_marker)}};
    v = semi == std::string_view::npos ? std::string_view{} : v.substr(semi + 1);
    while (!v.empty()) {
      semi = v.find(';');
      auto attr = trim(v.substr(0, semi));
      v = semi == std::string_view::npos ? std::string_view{} : v.substr(semi + 1);
      auto aeq = attr.find('=');
      auto key = attr.substr(0, aeq);
      auto value = aeq == std::string_view::npos ? std::string_view{} : trim(attr.substr(aeq + 1));
      if (iequals(key, "path")) cookie["path"] = cli::latin1_to_utf8(value);
      else if (iequals(key, "domain")) cookie["domain"] = cli::latin1_to_utf8(value);
      else if (iequals(key, "expires")) cookie["expires"] = cli::latin1_to_utf8(value);
      else if (iequals(key, "httponly")) cookie["httpOnly"] = true;
      else if (iequals(key, "secure")) cookie["secure"] = true;
    }
    out.push_back(std::move(cookie));
  }
  return out;
}

// The query's parameters decoded as browsers' HAR files show them ('+' as a space).
// A target that is not a valid URI reference (raw non-ASCII bytes) gives none.
json::array query_string(std::string_view target) {
  json::array out;
  auto parsed = boost::urls::parse_uri_reference(target);
  if (!parsed) return out;
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  for (auto p : parsed->params(opts))
    out.push_back(json::object{{"name", cli::utf8_or_latin1(p.key)}, {"value", cli::utf8_or_latin1(p.value)}});
  return out;
}

// HAR's headersSize: the bytes of the head as it was on the wire, final CRLF included.
std::int64_t head_size(std::string_view first_line, std::string_view block) {
  if (block.empty() && first_line.empty()) return -1;
  std::int64_t n = static_cast<std::int64_t>(first_line.size()) + 2;
  for (const auto& f : cli::split_header_fields(block)) n += static_cast<std::int64_t>(f.line.size()) + 2;
  return n + 2;
}

std::string cut_comment(std::size_t stored, std::uint64_t size, std::string_view option) {
  return "hindsight stored the first " + std::to_string(stored) + " of " + std::to_string(size) +
         " bytes of this body (" + std::string(option) + "): the text is not the whole body";
}

// text or base64 with "encoding", as HAR 1.2 §content says.
void put_body(json::object& o, std::string_view body) {
  if (cli::looks_like_text(body) || body.empty()) {
    o["text"] = std::string(body);
  } else {
    o["text"] = cli::base64_encode(body);
    o["encoding"] = "base64";
  }
}

}  // namespace

std::string capture_url(const store::capture& c) {
  if (!c.target.empty() && c.target.front() != '/' && c.target != "*") return c.target;  // absolute-form
  std::string url = (c.scheme.empty() ? std::string("http") : c.scheme) + "://" + (c.host.empty() ? "localhost" : c.host);
  if (c.target != "*") url += c.target;
  return url;
}

std::string shell_quote(std::string_view bytes) {
  std::string out = "'";
  for (char ch : bytes) {
    if (ch == '\'') out += "'\\''";
    else out += ch;
  }
  return out + "'";
}

std::string to_curl(const store::stored_capture& c, bool reveal) {
  auto all = headers_of(c.request_headers, reveal);
  auto sent = end_to_end(all);
  const bool body = has_body(c);
  // The body as an argument when it is text a terminal shows, else from printf on stdin.
  const bool piped =
      !c.request_body.empty() && (!cli::looks_like_text(c.request_body) || c.request_body.starts_with("@"));

  std::string out;
  if (piped) out += "printf " + shell_quote(printf_format(c.request_body)) + " | ";
  // --path-as-is and --globoff: curl would otherwise squash /../ and expand [] and {}.
  out += "curl --http1.1 --path-as-is --globoff";
  if (c.method == "HEAD")
    out += " --head";
  else if (c.method != "GET" || body)
    out += " -X " + shell_quote(c.method);
  out += " " + shell_quote(capture_url(c));
  if (c.target == "*") out += " --request-target '*'";
  for (const auto& h : sent) {
    // `-H 'Name:'` would remove the field; `Name;` sends it empty.
    out += " -H " + shell_quote(h.value.empty() ? h.name + ";" : h.name + ": " + h.value);
  }
  // Switch off what curl adds of its own, so the app sees the captured fields only.
  for (std::string_view own : {"User-Agent", "Accept"})
    if (!has_header(all, own)) out += " -H " + shell_quote(std::string(own) + ":");
  if (body) {
    if (!has_header(all, "content-type")) out += " -H 'Content-Type:'";
    out += " -H 'Expect:'";
    out += piped ? std::string(" --data-binary @-") : " --data-binary " + shell_quote(c.request_body);
  }
  return out + "\n";
}

std::string python_literal(std::string_view bytes, bool as_bytes) {
  std::string out = as_bytes ? "b\"" : "\"";
  for (unsigned char b : bytes) {
    switch (b) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (b >= 0x20 && b < 0x7f) {
          out += static_cast<char>(b);
        } else {
          char esc[5];
          std::snprintf(esc, sizeof esc, "\\x%02x", b);
          out += esc;
        }
    }
  }
  return out + "\"";
}

std::string to_python(const store::stored_capture& c, bool reveal) {
  auto all = headers_of(c.request_headers, reveal);
  // A dict holds one value per name: repeated fields are joined as RFC 9110 §5.3 allows
  // (Cookie with "; ", RFC 6265 §5.4).
  std::vector<header> sent;
  for (auto& h : end_to_end(all)) {
    auto same = std::find_if(sent.begin(), sent.end(), [&](const header& s) { return iequals(s.name, h.name); });
    if (same == sent.end()) sent.push_back(h);
    else same->value += (iequals(h.name, "cookie") ? "; " : ", ") + h.value;
  }
  // Fields the captured request lacked and the libraries would add: None removes requests'
  // defaults; urllib3 adds User-Agent and Accept-Encoding again unless told SKIP_HEADER.
  std::string removed;
  bool skip = false;
  for (std::string_view own : {"User-Agent", "Accept", "Accept-Encoding"}) {
    if (has_header(all, own)) continue;
    const bool urllib3_adds = own != "Accept";
    skip = skip || urllib3_adds;
    removed += "        " + python_literal(own, false) + ": " + (urllib3_adds ? "SKIP_HEADER" : "None") + ",\n";
  }
  std::string out = "# capture " + std::to_string(c.id) + " of hindsight: `hindsight export " + std::to_string(c.id) +
                    " --format python`\nimport requests\n";
  if (skip) out += "from urllib3.util import SKIP_HEADER\n";
  out += "\nresponse = requests.request(\n    " + python_literal(c.method, false) + ",\n    " +
         python_literal(capture_url(c), false) + ",\n    headers={\n";
  for (const auto& h : sent) out += "        " + python_literal(h.name, false) + ": " + python_literal(h.value, false) + ",\n";
  out += removed + "    },\n";
  if (has_body(c)) out += "    data=" + python_literal(c.request_body, true) + ",\n";
  out += "    allow_redirects=False,\n)\nprint(response.status_code, response.reason)\nprint(response.text)\n";
  return out;
}

json::object to_har(const store::stored_capture& c, bool reveal, std::string_view creator_version) {
  auto request_headers = headers_of(c.request_headers, reveal);
  auto raw_request_headers = headers_of(c.request_headers, true);
  json::object request{
      {"method", cli::latin1_to_utf8(c.method)},
      {"url", cli::utf8_or_latin1(capture_url(c))},
      {"httpVersion", version_text(c)},
      {"cookies", request_cookies(raw_request_headers, reveal)},
      {"headers", name_values(request_headers)},
      {"queryString", query_string(c.target)},
      {"headersSize", head_size(c.method + " " + c.target + " " + version_text(c), c.request_headers)},
      {"bodySize", has_body(c) ? static_cast<std::int64_t>(c.request_body_size) : 0},
  };
  if (has_body(c)) {
    json::object post{{"mimeType", cli::latin1_to_utf8(header_value(raw_request_headers, "content-type"))}};
    put_body(post, c.request_body);
    if (c.request_body_truncated)
      post["comment"] = cut_comment(c.request_body.size(), c.request_body_size, "--capture-request-body");
    else if (!c.request_complete)
      post["comment"] = "the client did not send the whole body: " + std::to_string(c.request_body_size) + " bytes arrived";
    std::string ctype = header_value(raw_request_headers, "content-type");
    if (ctype.starts_with("application/x-www-form-urlencoded") && cli::looks_like_text(c.request_body)) {
      auto params = query_string("?" + c.request_body);
      post["params"] = std::move(params);
    }
    request["postData"] = std::move(post);
  }

  auto response_headers = headers_of(c.response_headers, reveal);
  auto raw_response_headers = headers_of(c.response_headers, true);
  json::object content{
      {"size", static_cast<std::int64_t>(c.response_body_size)},
      {"mimeType", cli::latin1_to_utf8(header_value(raw_response_headers, "content-type"))},
  };
  put_body(content, c.response_body);
  if (c.response_body_truncated)
    content["comment"] = cut_comment(c.response_body.size(), c.response_body_size, "--capture-response-body");
  std::string first_line = c.status ? "HTTP/1.1 " + std::to_string(c.status) + " " + c.reason : std::string();
  json::object response{
      {"status", c.status},
      {"statusText", cli::latin1_to_utf8(c.reason)},
      {"httpVersion", c.status ? "HTTP/1.1" : ""},
      {"cookies", response_cookies(raw_response_headers, reveal)},
      {"headers", name_values(response_headers)},
      {"content", std::move(content)},
      {"redirectURL", cli::latin1_to_utf8(header_value(raw_response_headers, "location"))},
      {"headersSize", c.response_headers.empty() ? std::int64_t(-1) : head_size(first_line, c.response_headers)},
      {"bodySize", static_cast<std::int64_t>(c.response_body_size)},
  };
  if (!c.upstream_error_kind.empty())
    response["comment"] = "the app gave no complete answer (" + cli::utf8_or_latin1(c.upstream_error_kind) +
                          "): this is hindsight's own response";

  // One phase: the proxy measures the exchange as a whole, and "wait" is where it went.
  const double ms = std::max(0.0, c.duration_ms);
  std::string comment = "hindsight capture " + std::to_string(c.id);
  if (!reveal) comment += "; credential headers and cookies masked (hindsight export --reveal shows them)";
  if (!c.redacted.empty()) comment += "; values scrubbed at capture are [redacted]";
  json::object entry{
      {"startedDateTime", cli::iso8601_ms(c.time_us)},
      {"time", ms},
      {"request", std::move(request)},
      {"response", std::move(response)},
      {"cache", json::object{}},
      {"timings", json::object{{"blocked", -1}, {"dns", -1}, {"connect", -1}, {"send", 0}, {"wait", ms},
                               {"receive", 0}, {"ssl", -1}}},
      {"comment", std::move(comment)},
  };
  return json::object{{"log", json::object{
                                  {"version", "1.2"},
                                  {"creator", json::object{{"name", "hindsight"}, {"version", creator_version}}},
                                  {"pages", json::array{}},
                                  {"entries", json::array{std::move(entry)}},
                              }}};
}

std::string to_raw(const store::stored_capture& c, bool reveal) {
  if (reveal) return cli::rebuild_request(c);
  store::capture masked = c;
  masked.request_headers.clear();
  for (const auto& h : headers_of(c.request_headers, false)) masked.request_headers += h.name + ": " + h.value + "\r\n";
  return cli::rebuild_request(masked);
}

std::vector<std::string> export_warnings(const store::stored_capture& c, bool reveal) {
  std::vector<std::string> out;
  if (c.host.empty() && c.target.starts_with("/"))
    out.push_back("the request had no Host field (HTTP/1.0): its URL says localhost; put the app's host there");
  if (!reveal) {
    std::string masked;
    for (const auto& f : cli::split_header_fields(c.request_headers))
      if (store::is_credential_header(f.name)) masked += (masked.empty() ? "" : ", ") + std::string(f.name);
    if (!masked.empty()) out.push_back("credential headers masked: " + cli::latin1_to_utf8(masked) + " (--reveal includes them)");
  }
  std::string scrubbed;
  for (const auto& r : c.redacted)
    if (!r.starts_with("response-")) scrubbed += (scrubbed.empty() ? "" : ", ") + r;
  if (!scrubbed.empty()) out.push_back("values scrubbed at capture are sent as [redacted]: " + cli::utf8_or_latin1(scrubbed));
  if (c.request_body_truncated || !c.request_complete)
    out.push_back("not the whole request: " + std::to_string(c.request_body.size()) + " of " +
                  std::to_string(c.request_body_size) + " body bytes were stored" +
                  (c.request_complete ? " (--capture-request-body)" : " (the client did not send it all)"));
  return out;
}

}  // namespace hindsight::replay
