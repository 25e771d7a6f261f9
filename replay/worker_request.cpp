#include "replay/worker_request.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <stdexcept>

#include "cli/text_encoding.hpp"
#include "proxy/address.hpp"
#include "proxy/forwarding.hpp"
#include "proxy/http_head.hpp"

namespace hindsight::replay {
namespace {

namespace json = boost::json;

json::array header_pair(std::string_view name, std::string_view value) {
  return json::array{json::string(cli::latin1_to_utf8(name)), json::string(cli::latin1_to_utf8(value))};
}

// The stored fields as they are, when they cannot be parsed as the proxy parsed them
// (they always can for what the proxy accepted; this keeps a damaged row replayable).
json::array stored_fields(std::string_view block) {
  json::array out;
  while (!block.empty()) {
    auto end = block.find("\r\n");
    auto line = block.substr(0, end);
    block = end == std::string_view::npos ? std::string_view{} : block.substr(end + 2);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    out.push_back(header_pair(line.substr(0, colon), value));
  }
  return out;
}

}  // namespace

breakpoint parse_breakpoint(std::string_view text) {
  auto fail = [&]() -> breakpoint {
    throw std::invalid_argument("invalid breakpoint '" + std::string(text) +
                                "': expected FILE:LINE or FILE:LINE:CONDITION, e.g. shop/views.py:42 or "
                                "'shop/views.py:42:order_id == 7'");
  };
  auto first = text.find(':');
  if (first == std::string_view::npos || first == 0) return fail();
  auto rest = text.substr(first + 1);
  auto second = rest.find(':');
  auto number = rest.substr(0, second);
  breakpoint b;
  b.file = std::string(text.substr(0, first));
  auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), b.line);
  if (ec != std::errc{} || end != number.data() + number.size() || b.line <= 0) return fail();
  if (second != std::string_view::npos) {
    b.condition = std::string(rest.substr(second + 1));
    if (b.condition.empty()) return fail();
  }
  return b;
}

worker_request rebuild_request(const store::stored_capture& c, const request_settings& s) {
  worker_request out;
  const bool unix_client = c.client == "unix" || c.client.empty();
  const std::string version = c.version == 10 ? "HTTP/1.0" : "HTTP/1.1";

  // Parse the stored head as the proxy did, then write what it sent upstream.
  std::string raw = c.method + " " + c.target + " " + version + "\r\n" + c.request_headers + "\r\n";
  proxy::request_head head;
  proxy::head_limits generous{.max_request_line = raw.size() + 1, .max_head_size = raw.size() + 1,
                              .max_fields = 1 << 20};
  auto parsed = proxy::parse_request_head(raw, head, generous);
  std::string method = c.method, target = c.target, sent_version = version;
  json::array headers;
  if (parsed.state == proxy::parse_state::complete) {
    std::string upstream;
    proxy::write_upstream_request_head(head, unix_client ? std::string_view{} : std::string_view(c.client), upstream);
    auto line_end = upstream.find("\r\n");
    auto request_line = std::string_view(upstream).substr(0, line_end);
    auto sp1 = request_line.find(' '), sp2 = request_line.rfind(' ');
    method = std::string(request_line.substr(0, sp1));
    target = std::string(request_line.substr(sp1 + 1, sp2 - sp1 - 1));
    sent_version = std::string(request_line.substr(sp2 + 1));
    auto fields = std::string_view(upstream).substr(line_end + 2);
    if (fields.size() >= 2) fields.remove_suffix(2);  // the empty line that ends the head
    headers = stored_fields(fields);
  } else {
    headers = stored_fields(c.request_headers);
    out.warnings.push_back("the stored request head does not parse as the proxy parsed it (" + parsed.error.reason +
                           "): its fields are sent as stored");
  }

  // The app's socket: over a unix socket gunicorn has no peer address, and its server
  // "address" is the path, with the scheme's default port.
  std::string remote_addr, remote_port;
  json::array server;
  std::string upstream_text = s.upstream;
  proxy::address where;
  bool known = false;
  if (!upstream_text.empty()) {
    try {
      where = proxy::parse_address(upstream_text);
      known = true;
    } catch (const std::exception&) {
    }
  }
  if (known && !where.is_unix()) {
    remote_addr = where.host;  // the proxy connects from the loopback; its port is not recorded
    server = json::array{json::string(where.host), json::string(std::to_string(where.port))};
  } else {
    std::string default_port = c.scheme == "https" ? "443" : "80";
    server = json::array{json::string(known ? where.path : std::string("unix")), json::string(default_port)};
  }

  json::array breaks;
  for (const auto& b : s.breaks) {
    json::object o{{"file", b.file}, {"line", b.line}};
    if (!b.condition.empty()) o["condition"] = b.condition;
    breaks.push_back(std::move(o));
  }

  out.header = json::object{
      {"type", "request"},
      {"capture_id", c.id},
      {"method", cli::latin1_to_utf8(method)},
      {"target", cli::latin1_to_utf8(target)},
      {"version", sent_version},
      {"headers", std::move(headers)},
      {"scheme", c.scheme.empty() ? std::string("http") : c.scheme},
      {"remote_addr", remote_addr},
      {"remote_port", remote_port},
      {"server", std::move(server)},
      {"mode", s.mode},
      {"breaks", std::move(breaks)},
      {"rollback", s.rollback},
      {"timeout_s", s.timeout_s},
      {"body_limit", s.body_limit},
  };
  out.body = c.request_body;

  if (c.request_body_truncated || !c.request_complete) {
    out.warnings.push_back("the request body is incomplete: " + std::to_string(c.request_body.size()) + " of " +
                           std::to_string(c.request_body_size) + " bytes were stored" +
                           (c.request_complete ? " (--capture-request-body)" : " (the client did not send it all)") +
                           "; the app reads a shorter body than it did");
  }
  if (!c.redacted.empty()) {
    std::string names;
    for (const auto& r : c.redacted) names += (names.empty() ? "" : ", ") + r;
    out.warnings.push_back("secrets were scrubbed from this capture (" + names +
                           "): the app sees [redacted] in their place");
  }
  return out;
}

}  // namespace hindsight::replay
