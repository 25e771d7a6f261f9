#include "cli/capture_view.hpp"

#include <strings.h>

#include <boost/json.hpp>

#include <cmath>

#include "cli/text_encoding.hpp"
#include "cli/text_table.hpp"
#include "cli/time_format.hpp"
#include "store/fingerprint.hpp"
#include "store/redaction.hpp"

namespace hindsight::cli {
namespace {

namespace json = boost::json;

constexpr std::size_t path_width = 48;
constexpr std::size_t binary_dump_bytes = 64;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool is_framing(std::string_view name) {
  return iequals(name, "content-length") || iequals(name, "transfer-encoding");
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Wire text for a terminal.
std::string shown(std::string_view bytes) { return escape_controls(utf8_or_latin1(bytes)); }

json::value optional_text(std::string_view s) {
  if (s.empty()) return nullptr;
  return json::string(utf8_or_latin1(s));
}

// Milliseconds rounded to the microsecond: the store's doubles carry noise beyond it.
double round_ms(double ms) { return std::round(ms * 1000) / 1000; }

json::array headers_json(std::string_view block, bool reveal) {
  json::array out;
  for (auto& [name, value] : display_headers(block, reveal)) out.push_back(json::array{json::string(name), json::string(value)});
  return out;
}

std::string url_of(const store::capture& c) {
  auto target = shown(c.target);
  if (c.target.empty() || c.target.front() != '/' || c.host.empty()) return target;
  return (c.scheme.empty() ? std::string("http") : shown(c.scheme)) + "://" + shown(c.host) + target;
}

std::string captured_because(const store::stored_capture& c) {
  if (c.captured_because == "status") return "status " + std::to_string(c.status) + " (--capture-status)";
  if (c.captured_because == "error") return "the app gave no complete answer";
  if (c.captured_because == "slow") return "slow: " + format_duration_ms(c.duration_ms) + " (--capture-slow)";
  if (c.captured_because == "sample") return "sampled (--capture-sample)";
  return c.captured_because.empty() ? std::string("?") : shown(c.captured_because);
}

std::string replayable_text(const store::stored_capture& c) {
  if (c.replayable) return "yes";
  std::string why;
  if (c.request_body_truncated)
    why = "the request body was cut: " + std::to_string(c.request_body.size()) + " of " + std::to_string(c.request_body_size) +
          " bytes stored (--capture-request-body)";
  else if (!c.request_complete)
    why = "the client did not send the whole request body (" + std::to_string(c.request_body_size) + " bytes arrived)";
  return why.empty() ? "no" : "no — " + why;
}

void add_head(std::string& out, std::string_view first_line, std::string_view block, bool reveal) {
  out += first_line;
  out += '\n';
  for (auto& [name, value] : display_headers(block, reveal)) {
    out += escape_controls(name);
    out += ": ";
    out += escape_controls(value);
    out += '\n';
  }
  out += '\n';
}

}  // namespace

std::vector<header_field> split_header_fields(std::string_view block) {
  std::vector<header_field> out;
  while (!block.empty()) {
    auto nl = block.find('\n');
    auto line = block.substr(0, nl);
    block = nl == std::string_view::npos ? std::string_view() : block.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) out.push_back({line, {}, line});
    else out.push_back({line.substr(0, colon), trim(line.substr(colon + 1)), line});
  }
  return out;
}

std::string rebuild_request(const store::capture& c) {
  std::string out;
  out.reserve(c.method.size() + c.target.size() + c.request_headers.size() + c.request_body.size() + 64);
  out += c.method;
  out += ' ';
  out += c.target;
  out += c.version == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
  auto content_length = "Content-Length: " + std::to_string(c.request_body.size()) + "\r\n";
  bool framed = false;
  for (const auto& f : split_header_fields(c.request_headers)) {
    if (is_framing(f.name)) {
      if (!framed) out += content_length;
      framed = true;
      continue;
    }
    out += f.line;
    out += "\r\n";
  }
  if (!framed && !c.request_body.empty()) out += content_length;
  out += "\r\n";
  out += c.request_body;
  return out;
}

std::vector<std::pair<std::string, std::string>> display_headers(std::string_view block, bool reveal) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : split_header_fields(block)) {
    bool masked = !reveal && store::is_credential_header(f.name);
    out.emplace_back(latin1_to_utf8(f.name), masked ? std::string(store::mask_marker) : latin1_to_utf8(f.value));
  }
  return out;
}

std::string status_text(int status, std::string_view kind) {
  auto s = std::to_string(status);
  if (!kind.empty()) s += " " + shown(kind);
  return s;
}

json::object summary_to_json(const store::capture_summary& s) {
  return {
      {"id", s.id},
      {"time", iso8601_ms(s.time_us)},
      {"status", s.status},
      {"method", latin1_to_utf8(s.method)},
      {"target", latin1_to_utf8(s.target)},
      {"path", latin1_to_utf8(s.path)},
      {"duration_ms", round_ms(s.duration_ms)},
      {"group", s.group_id},
      {"replayable", s.replayable},
      {"upstream_error_kind", optional_text(s.upstream_error_kind)},
  };
}

json::object group_to_json(const store::group_summary& g) {
  return {
      {"id", g.id},
      {"fingerprint", latin1_to_utf8(g.fingerprint)},
      {"method", latin1_to_utf8(g.method)},
      {"route", latin1_to_utf8(g.route)},
      {"status", g.status},
      {"upstream_error_kind", optional_text(g.upstream_error_kind)},
      {"count", g.count},
      {"first_seen", iso8601_ms(g.first_seen_us)},
      {"last_seen", iso8601_ms(g.last_seen_us)},
  };
}

std::string capture_table(const std::vector<store::capture_summary>& rows) {
  using align = text_table::align;
  text_table t({{"ID", align::right},
                {"TIME (UTC)"},
                {"STATUS"},
                {"METHOD"},
                {"PATH"},
                {"DURATION", align::right},
                {"GROUP", align::right},
                {"REPLAY"}});
  for (const auto& r : rows)
    t.add_row({std::to_string(r.id), iso8601_seconds(r.time_us), status_text(r.status, r.upstream_error_kind), shown(r.method),
               ellipsize_middle(shown(r.path), path_width), format_duration_ms(r.duration_ms), std::to_string(r.group_id),
               r.replayable ? "yes" : "no"});
  return t.render();
}

std::string group_table(const std::vector<store::group_summary>& rows) {
  using align = text_table::align;
  text_table t({{"GROUP", align::right},
                {"COUNT", align::right},
                {"FIRST SEEN (UTC)"},
                {"LAST SEEN (UTC)"},
                {"METHOD"},
                {"ROUTE"},
                {"STATUS"}});
  for (const auto& g : rows)
    t.add_row({std::to_string(g.id), std::to_string(g.count), iso8601_seconds(g.first_seen_us), iso8601_seconds(g.last_seen_us),
               shown(g.method), ellipsize_middle(shown(g.route), path_width), status_text(g.status, g.upstream_error_kind)});
  return t.render();
}

json::object capture_to_json(const store::stored_capture& c, bool reveal) {
  json::array redacted;
  for (const auto& r : c.redacted) redacted.push_back(json::string(utf8_or_latin1(r)));
  return {
      {"id", c.id},
      {"time", iso8601_ms(c.time_us)},
      {"client", utf8_or_latin1(c.client)},
      {"scheme", latin1_to_utf8(c.scheme)},
      {"host", latin1_to_utf8(c.host)},
      {"request",
       {
           {"method", latin1_to_utf8(c.method)},
           {"target", latin1_to_utf8(c.target)},
           {"version", c.version == 10 ? "HTTP/1.0" : "HTTP/1.1"},
           {"headers", headers_json(c.request_headers, reveal)},
           {"body_base64", base64_encode(c.request_body)},
           {"body_truncated", c.request_body_truncated},
           {"body_size", c.request_body_size},
           {"body_complete", c.request_complete},
       }},
      {"response",
       {
           {"status", c.status},
           {"reason", latin1_to_utf8(c.reason)},
           {"headers", headers_json(c.response_headers, reveal)},
           {"body_base64", base64_encode(c.response_body)},
           {"body_truncated", c.response_body_truncated},
           {"body_size", c.response_body_size},
       }},
      {"upstream_error", optional_text(c.upstream_error.empty() ? c.upstream_error_kind : c.upstream_error)},
      {"upstream_error_kind", optional_text(c.upstream_error_kind)},
      {"duration_ms", round_ms(c.duration_ms)},
      {"upstream_ms", c.upstream_ms < 0 ? json::value(nullptr) : json::value(round_ms(c.upstream_ms))},
      {"group", c.group_id},
      {"redacted", std::move(redacted)},
      {"replayable", c.replayable},
      {"captured_because", utf8_or_latin1(c.captured_because)},
      {"app_restarted", c.app_restarted},
  };
}

std::string body_text(std::string_view stored, std::uint64_t total_size, bool truncated, std::size_t limit,
                      std::string_view option, std::string_view whole_hint) {
  std::string out;
  if (stored.empty()) {
    if (total_size > 0)
      out += "(a body of " + std::to_string(total_size) + " bytes, none of it captured: " + std::string(option) + ")\n";
    return out;
  }
  std::size_t left_out = 0;
  if (looks_like_text(stored)) {
    std::size_t n = limit == 0 ? stored.size() : utf8_prefix_length(stored, limit);
    out += escape_controls(stored.substr(0, n));
    if (out.empty() || out.back() != '\n') out += '\n';
    left_out = stored.size() - n;
    if (left_out > 0)
      out += "… " + std::to_string(left_out) + " more bytes (--body-limit 0 shows them; " + std::string(whole_hint) + ")\n";
  } else {
    std::size_t n = std::min(stored.size(), binary_dump_bytes);
    out += "(" + std::to_string(stored.size()) + " bytes of binary";
    out += n < stored.size() ? ", the first " + std::to_string(n) + " below; " : "; ";
    out += std::string(whole_hint) + ")\n";
    out += hex_dump(stored, n);
  }
  if (truncated)
    out += "… cut when captured: " + std::to_string(stored.size()) + " of " + std::to_string(total_size) + " bytes stored (" +
           std::string(option) + ")\n";
  return out;
}

std::string capture_text(const store::stored_capture& c, const show_settings& settings) {
  std::string out;
  auto row = [&](std::string_view key, const std::string& value) {
    std::string k(key);
    k.resize(18, ' ');
    out += "  " + k + value + "\n";
  };
  out += "capture " + std::to_string(c.id) + "\n";
  row("time", iso8601_ms(c.time_us));
  row("client", c.client.empty() ? std::string("?") : shown(c.client));
  row("url", url_of(c));
  row("status", std::to_string(c.status) + (c.reason.empty() ? "" : " " + shown(c.reason)));
  row("duration", format_duration_ms(c.duration_ms) +
                      (c.upstream_ms < 0 ? std::string(" (the app was never reached)")
                                         : " (in the app: " + format_duration_ms(c.upstream_ms) + ")"));
  if (!c.upstream_error_kind.empty() || !c.upstream_error.empty())
    row("upstream error", shown(c.upstream_error_kind) + (c.upstream_error.empty() ? "" : ": " + shown(c.upstream_error)));
  else
    row("upstream error", "none");
  row("captured because", captured_because(c));
  row("group", std::to_string(c.group_id) + ": " +
                   shown(store::fingerprint(c.method, store::route_of(c.target), c.status, c.upstream_error_kind)));
  row("replayable", replayable_text(c));
  if (c.app_restarted) row("app restarted", "yes, while this exchange ran");
  std::string redacted;
  for (const auto& r : c.redacted) redacted += (redacted.empty() ? "" : ", ") + shown(r);
  row("redacted", redacted.empty() ? std::string("nothing") : redacted);
  if (!settings.reveal) {
    std::string masked;
    for (auto block : {std::string_view(c.request_headers), std::string_view(c.response_headers)})
      for (const auto& f : split_header_fields(block))
        if (store::is_credential_header(f.name)) masked += (masked.empty() ? "" : ", ") + shown(f.name);
    if (!masked.empty()) row("masked", masked + " (--reveal shows them)");
  }

  out += "\n--- request ---\n";
  add_head(out, shown(c.method) + " " + shown(c.target) + (c.version == 10 ? " HTTP/1.0" : " HTTP/1.1"), c.request_headers,
           settings.reveal);
  out += body_text(c.request_body, c.request_body_size, c.request_body_truncated, settings.body_limit,
                   "--capture-request-body", "--raw or --json for all of it");
  if (!c.request_complete)
    out += "… the client did not send the whole body: " + std::to_string(c.request_body_size) + " bytes arrived\n";

  out += "\n--- response ---\n";
  if (c.status == 0) {
    out += "(none: the exchange ended before a response was sent)\n";
    return out;
  }
  add_head(out, "HTTP/1.1 " + std::to_string(c.status) + (c.reason.empty() ? "" : " " + shown(c.reason)), c.response_headers,
           settings.reveal);
  if (c.response_headers.empty() && !c.upstream_error_kind.empty())
    out += "(hindsight's own answer: the app gave no complete response)\n";
  out += body_text(c.response_body, c.response_body_size, c.response_body_truncated, settings.body_limit,
                   "--capture-response-body", "--json for all of it");
  return out;
}

}  // namespace hindsight::cli
