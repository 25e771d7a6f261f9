#include "replay/response_diff.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cctype>

#include "cli/capture_view.hpp"
#include "cli/json_output.hpp"
#include "cli/text_encoding.hpp"
#include "store/redaction.hpp"

namespace hindsight::replay {
namespace {

namespace json = boost::json;

constexpr std::size_t context_lines = 3;
// Beyond this many cells the line LCS is not computed; the middle is shown replaced.
constexpr std::size_t max_lcs_cells = 4'000'000;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Expires and Max-Age move with the clock; the cookie and its other attributes do not.
std::string without_expiry(std::string_view set_cookie) {
  std::string out;
  while (!set_cookie.empty()) {
    auto semi = set_cookie.find(';');
    auto part = trim(set_cookie.substr(0, semi));
    set_cookie = semi == std::string_view::npos ? std::string_view{} : set_cookie.substr(semi + 1);
    auto key = lower(trim(part.substr(0, part.find('='))));
    if (key == "expires" || key == "max-age") continue;
    out += (out.empty() ? "" : "; ") + std::string(part);
  }
  return out;
}

// name (lower case) → its values in order, volatile fields left out; in first-seen order.
std::vector<std::pair<std::string, std::vector<std::string>>> grouped(
    const std::vector<std::pair<std::string, std::string>>& headers) {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  const auto& skip = volatile_headers();
  for (const auto& [name, value] : headers) {
    auto n = lower(name);
    if (std::find(skip.begin(), skip.end(), n) != skip.end()) continue;
    auto v = n == "set-cookie" ? without_expiry(value) : std::string(trim(value));
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& g) { return g.first == n; });
    if (it == out.end()) out.push_back({n, {std::move(v)}});
    else it->second.push_back(std::move(v));
  }
  return out;
}

std::string joined(const std::vector<std::string>& values) {
  std::string out;
  for (const auto& v : values) out += (out.empty() ? "" : ", ") + v;
  return out;
}

std::vector<header_change> compare_headers(const compared_response& a, const compared_response& b) {
  auto ga = grouped(a.headers), gb = grouped(b.headers);
  std::vector<header_change> out;
  for (const auto& [name, values] : ga) {
    auto it = std::find_if(gb.begin(), gb.end(), [&](const auto& g) { return g.first == name; });
    if (it == gb.end()) out.push_back({name, header_change::kind::removed, joined(values), ""});
    else if (it->second != values) out.push_back({name, header_change::kind::changed, joined(values), joined(it->second)});
  }
  for (const auto& [name, values] : gb) {
    bool known = std::any_of(ga.begin(), ga.end(), [&](const auto& g) { return g.first == name; });
    if (!known) out.push_back({name, header_change::kind::added, "", joined(values)});
  }
  return out;
}

bool plain_name(std::string_view key) {
  if (key.empty() || std::isdigit(static_cast<unsigned char>(key.front()))) return false;
  return std::all_of(key.begin(), key.end(), [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'; });
}

std::string member_path(const std::string& parent, std::string_view key) {
  if (plain_name(key)) return parent + "." + std::string(key);
  std::string out = parent + "['";
  for (char ch : key) {
    if (ch == '\'' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "']";
}

void json_walk(const json::value& a, const json::value& b, const std::string& path, std::vector<json_change>& out) {
  using kind = json_change::kind;
  if (a.is_object() && b.is_object()) {
    const auto &oa = a.get_object(), &ob = b.get_object();
    for (const auto& [k, v] : oa) {
      auto p = member_path(path, k);
      if (auto* other = ob.if_contains(k)) json_walk(v, *other, p, out);
      else out.push_back({p, kind::removed, cli::to_json_text(v), ""});
    }
    for (const auto& [k, v] : ob)
      if (!oa.contains(k)) out.push_back({member_path(path, k), kind::added, "", cli::to_json_text(v)});
    return;
  }
  if (a.is_array() && b.is_array()) {
    const auto &aa = a.get_array(), &ab = b.get_array();
    for (std::size_t i = 0; i < std::max(aa.size(), ab.size()); ++i) {
      auto p = path + "[" + std::to_string(i) + "]";
      if (i >= ab.size()) out.push_back({p, kind::removed, cli::to_json_text(aa[i]), ""});
      else if (i >= aa.size()) out.push_back({p, kind::added, "", cli::to_json_text(ab[i])});
      else json_walk(aa[i], ab[i], p, out);
    }
    return;
  }
  // 1 and 1.0 are the same number to a JSON reader.
  bool numbers = (a.is_number() && b.is_number());
  if (numbers ? a.to_number<double>() != b.to_number<double>() : a != b)
    out.push_back({path, kind::changed, cli::to_json_text(a), cli::to_json_text(b)});
}

std::optional<json::value> parse_json(std::string_view body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec) return std::nullopt;
  return v;
}

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    out.push_back(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
  }
  return out;
}

struct edit {
  char op;  // ' ', '-', '+'
  std::string_view line;
};

// The edit script from a to b: common prefix and suffix, and a line LCS in between.
std::vector<edit> edit_script(const std::vector<std::string_view>& a, const std::vector<std::string_view>& b) {
  std::size_t pre = 0;
  while (pre < a.size() && pre < b.size() && a[pre] == b[pre]) ++pre;
  std::size_t suf = 0;
  while (suf < a.size() - pre && suf < b.size() - pre && a[a.size() - 1 - suf] == b[b.size() - 1 - suf]) ++suf;
  std::vector<edit> out;
  for (std::size_t i = 0; i < pre; ++i) out.push_back({' ', a[i]});
  const std::size_t n = a.size() - pre - suf, m = b.size() - pre - suf;
  if (n * m <= max_lcs_cells) {
    // lcs[i][j]: the LCS length of a[pre+i..] and b[pre+j..].
    std::vector<std::uint32_t> lcs((n + 1) * (m + 1), 0);
    auto at = [&](std::size_t i, std::size_t j) -> std::uint32_t& { return lcs[i * (m + 1) + j]; };
    for (std::size_t i = n; i-- > 0;)
      for (std::size_t j = m; j-- > 0;)
        at(i, j) = a[pre + i] == b[pre + j] ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
    std::size_t i = 0, j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[pre + i] == b[pre + j]) {
        out.push_back({' ', a[pre + i]});
        ++i, ++j;
      } else if (i < n && (j == m || at(i + 1, j) >= at(i, j + 1))) {
        out.push_back({'-', a[pre + i++]});  // removals first, as diff -u writes them
      } else {
        out.push_back({'+', b[pre + j++]});
      }
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) out.push_back({'-', a[pre + i]});
    for (std::size_t j = 0; j < m; ++j) out.push_back({'+', b[pre + j]});
  }
  for (std::size_t i = a.size() - suf; i < a.size(); ++i) out.push_back({' ', a[i]});
  return out;
}

std::size_t first_difference(std::string_view a, std::string_view b) {
  auto [ia, ib] = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  return static_cast<std::size_t>(ia - a.begin());
}

body_comparison compare_bodies(const compared_response& captured, const compared_response& replayed) {
  body_comparison out;
  std::string_view a = captured.body, b = replayed.body;
  out.captured_size = a.size();
  out.replayed_size = b.size();
  out.prefix_only = captured.body_cut || replayed.body_cut;
  if (out.prefix_only) {
    // Past the shorter body, nothing is known unless that body ended there for real.
    const auto& shorter = a.size() <= b.size() ? captured : replayed;
    if (shorter.body_cut) {
      a = a.substr(0, std::min(a.size(), b.size()));
      b = b.substr(0, a.size());
    }
  }
  out.compared_bytes = std::min(a.size(), b.size());
  if (a == b) return out;
  out.first_difference = first_difference(a, b);
  if (!out.prefix_only) {
    auto ja = parse_json(a), jb = parse_json(b);
    if (ja && jb) {
      auto changes = json_diff(*ja, *jb);
      if (changes.empty()) return out;  // the same document, written differently
      out.what = body_comparison::kind::json;
      out.first_difference.reset();
      if (changes.size() > max_json_changes) {
        out.json_changes_left_out = changes.size() - max_json_changes;
        changes.resize(max_json_changes);
      }
      out.json_changes = std::move(changes);
      return out;
    }
  }
  if (cli::looks_like_text(a) && cli::looks_like_text(b)) {
    out.what = body_comparison::kind::text;
    out.unified = unified_diff(a, b);
  } else {
    out.what = body_comparison::kind::binary;
  }
  return out;
}

std::string_view kind_name(header_change::kind k) {
  switch (k) {
    case header_change::kind::changed: return "changed";
    case header_change::kind::added: return "added";
    case header_change::kind::removed: return "removed";
  }
  return "changed";
}

std::string_view kind_name(json_change::kind k) {
  switch (k) {
    case json_change::kind::changed: return "changed";
    case json_change::kind::added: return "added";
    case json_change::kind::removed: return "removed";
  }
  return "changed";
}

std::string_view kind_name(body_comparison::kind k) {
  switch (k) {
    case body_comparison::kind::same: return "same";
    case body_comparison::kind::json: return "json";
    case body_comparison::kind::text: return "text";
    case body_comparison::kind::binary: return "binary";
  }
  return "same";
}

// Credential values (Set-Cookie, …) are not printed, only that they changed.
std::string shown_value(const header_change& h, const std::string& value) {
  if (value.empty()) return value;
  return store::is_credential_header(h.name) ? std::string(store::mask_marker) : value;
}

json::value nullable(const std::string& s) { return s.empty() ? json::value(nullptr) : json::value(s); }

std::string shown(std::string_view utf8) { return cli::escape_controls(cli::utf8_or_latin1(utf8)); }

// 0 is no status at all: the app raised before it started a response, or gave none.
std::string status_name(int status) { return status ? std::to_string(status) : std::string("none"); }

}  // namespace

compared_response captured_response(const store::stored_capture& c) {
  compared_response out;
  out.status = c.status;
  for (const auto& f : cli::split_header_fields(c.response_headers))
    out.headers.emplace_back(cli::latin1_to_utf8(f.name), cli::latin1_to_utf8(f.value));
  out.body = c.response_body;
  out.body_cut = c.response_body_truncated;
  return out;
}

compared_response replayed_response(const replay_result& r) {
  compared_response out;
  if (auto* s = r.response.if_contains("status"); s && s->is_string())
    if (auto line = parse_status(s->as_string())) out.status = line->code;
  if (auto* h = r.response.if_contains("headers"); h && h->is_array())
    for (const auto& pair : h->as_array())
      if (auto* p = pair.if_array(); p && p->size() == 2 && (*p)[0].is_string() && (*p)[1].is_string())
        out.headers.emplace_back(std::string((*p)[0].as_string()), std::string((*p)[1].as_string()));
  out.body = r.body;
  if (auto* t = r.response.if_contains("body_truncated"); t && t->is_bool()) out.body_cut = t->as_bool();
  return out;
}

const std::vector<std::string_view>& volatile_headers() {
  static const std::vector<std::string_view> names{
      // RFC 9110 fields that change with the clock or the connection, and framing.
      "date", "server", "age", "expires", "last-modified", "etag", "content-length", "transfer-encoding", "connection",
      "keep-alive", "via",
      // Per-request ids and timings that apps, frameworks and platforms add.
      "x-request-id", "x-correlation-id", "request-id", "x-trace-id", "traceparent", "tracestate",
      "x-amzn-trace-id", "x-runtime", "x-response-time", "server-timing", "cf-ray"};
  return names;
}

std::vector<json_change> json_diff(const json::value& captured, const json::value& replayed) {
  std::vector<json_change> out;
  json_walk(captured, replayed, "$", out);
  return out;
}

std::string unified_diff(std::string_view captured, std::string_view replayed) {
  if (captured == replayed) return {};
  auto a = lines_of(captured), b = lines_of(replayed);
  auto script = edit_script(a, b);
  std::string out = "--- captured\n+++ replayed\n";
  std::size_t emitted = 2, left_out = 0;
  auto emit = [&](std::string line) {
    if (emitted < max_diff_lines) {
      out += line;
      ++emitted;
    } else {
      ++left_out;
    }
  };
  // Hunks: each change with up to context_lines around it, neighbours merged.
  std::size_t k = 0;
  while (k < script.size()) {
    while (k < script.size() && script[k].op == ' ') ++k;
    if (k == script.size()) break;
    std::size_t start = k >= context_lines ? k - context_lines : 0;
    std::size_t end = k;  // one past the last change of the hunk
    for (std::size_t j = k; j < script.size(); ++j) {
      if (script[j].op != ' ') end = j + 1;
      else if (j - end >= 2 * context_lines) break;
    }
    std::size_t stop = std::min(script.size(), end + context_lines);
    std::size_t a_line = 1, b_line = 1;
    for (std::size_t j = 0; j < start; ++j) {
      if (script[j].op != '+') ++a_line;
      if (script[j].op != '-') ++b_line;
    }
    std::size_t a_count = 0, b_count = 0;
    for (std::size_t j = start; j < stop; ++j) {
      if (script[j].op != '+') ++a_count;
      if (script[j].op != '-') ++b_count;
    }
    emit("@@ -" + std::to_string(a_count ? a_line : a_line - 1) + "," + std::to_string(a_count) + " +" +
         std::to_string(b_count ? b_line : b_line - 1) + "," + std::to_string(b_count) + " @@\n");
    for (std::size_t j = start; j < stop; ++j) emit(std::string(1, script[j].op) + std::string(script[j].line) + "\n");
    k = stop;
  }
  if (emitted == 2) out += "(the same lines: the texts differ only in a final newline)\n";
  if (left_out) out += "… " + std::to_string(left_out) + " more diff lines\n";
  return out;
}

response_diff compare_responses(const compared_response& captured, const compared_response& replayed) {
  response_diff d;
  d.captured_status = captured.status;
  d.replayed_status = replayed.status;
  d.status_same = captured.status == replayed.status;
  d.headers = compare_headers(captured, replayed);
  d.body = compare_bodies(captured, replayed);
  return d;
}

json::object diff_to_json(const response_diff& d) {
  json::array headers;
  for (const auto& h : d.headers)
    headers.push_back(json::object{{"name", h.name},
                                   {"change", kind_name(h.what)},
                                   {"captured", nullable(shown_value(h, h.captured))},
                                   {"replayed", nullable(shown_value(h, h.replayed))}});
  json::array ignored;
  for (auto n : volatile_headers()) ignored.push_back(json::string(n));
  const auto& b = d.body;
  json::object body{{"same", b.what == body_comparison::kind::same},
                    {"kind", kind_name(b.what)},
                    {"prefix_only", b.prefix_only},
                    {"compared_bytes", b.compared_bytes},
                    {"captured_size", b.captured_size},
                    {"replayed_size", b.replayed_size},
                    {"first_difference", b.first_difference ? json::value(*b.first_difference) : json::value(nullptr)}};
  if (b.what == body_comparison::kind::json) {
    json::array changes;
    for (const auto& c : b.json_changes)
      changes.push_back(json::object{{"path", c.path},
                                     {"change", kind_name(c.what)},
                                     {"captured", nullable(c.captured)},
                                     {"replayed", nullable(c.replayed)}});
    body["changes"] = std::move(changes);
    body["changes_left_out"] = b.json_changes_left_out;
  }
  if (b.what == body_comparison::kind::text) body["unified"] = b.unified;
  return json::object{
      {"same", d.same()},
      {"status", json::object{{"captured", d.captured_status}, {"replayed", d.replayed_status}, {"same", d.status_same}}},
      {"headers", std::move(headers)},
      {"ignored_headers", std::move(ignored)},
      {"body", std::move(body)},
  };
}

std::string diff_text(const response_diff& d) {
  std::string out = "\n--- compared with the captured response ---\n";
  if (d.status_same) out += "status: same (" + status_name(d.captured_status) + ")\n";
  else out += "status: " + status_name(d.captured_status) + " → " + status_name(d.replayed_status) + "\n";
  if (d.headers.empty()) {
    out += "headers: same (Date, Server, framing and per-request ids not compared)\n";
  } else {
    out += "headers:\n";
    for (const auto& h : d.headers) {
      out += "  " + shown(h.name) + " " + std::string(kind_name(h.what)) + ": ";
      if (h.what == header_change::kind::added) out += shown(shown_value(h, h.replayed));
      else if (h.what == header_change::kind::removed) out += shown(shown_value(h, h.captured));
      else out += shown(shown_value(h, h.captured)) + " → " + shown(shown_value(h, h.replayed));
      out += "\n";
    }
  }
  const auto& b = d.body;
  std::string prefix_note =
      b.prefix_only ? " (a body was cut at capture or replay: only the first " + std::to_string(b.compared_bytes) +
                          " bytes, which both have, were compared)"
                    : "";
  switch (b.what) {
    case body_comparison::kind::same:
      out += "body: same" + prefix_note + "\n";
      break;
    case body_comparison::kind::json:
      out += "body: JSON differs\n";
      for (const auto& c : b.json_changes) {
        out += "  " + shown(c.path) + " " + std::string(kind_name(c.what)) + ": ";
        if (c.what == json_change::kind::added) out += shown(c.replayed);
        else if (c.what == json_change::kind::removed) out += shown(c.captured);
        else out += shown(c.captured) + " → " + shown(c.replayed);
        out += "\n";
      }
      if (b.json_changes_left_out) out += "  … " + std::to_string(b.json_changes_left_out) + " more changes\n";
      break;
    case body_comparison::kind::text:
      out += "body: text differs" + prefix_note + "\n" + cli::escape_controls(b.unified);
      break;
    case body_comparison::kind::binary:
      out += "body: bodies differ (" + std::to_string(b.captured_size) + " vs " + std::to_string(b.replayed_size) +
             " bytes, first difference at offset " + std::to_string(b.first_difference.value_or(0)) + ")" +
             prefix_note + "\n";
      break;
  }
  out += d.same() ? "same response\n" : "the responses differ\n";
  return out;
}

}  // namespace hindsight::replay
