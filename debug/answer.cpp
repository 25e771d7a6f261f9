#include "debug/answer.hpp"

#include <boost/json.hpp>

#include "proxy/forwarding.hpp"
#include "proxy/http_head.hpp"
#include "replay/result_view.hpp"

namespace hindsight::debug {
namespace {

namespace json = boost::json;

// Protocol strings are latin-1 bytes as code points (docs/worker-protocol.md).
std::optional<std::string> utf8_to_latin1(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if ((c == 0xC2 || c == 0xC3) && i + 1 < s.size()) {
      auto next = static_cast<unsigned char>(s[++i]);
      if ((next & 0xC0) != 0x80) return std::nullopt;
      out.push_back(static_cast<char>(((c & 0x03) << 6) | (next & 0x3F)));
    } else {
      return std::nullopt;
    }
  }
  return out;
}

// What the proxy writes itself or what describes one connection, as on the relaying
// path, and Proxy-Authenticate (hop-by-hop in RFC 2616), which no app has to send.
bool dropped_field(std::string_view name) {
  return proxy::is_hop_by_hop(name) || proxy::iequals(name, "Proxy-Authenticate");
}

std::string string_of(const json::object& o, std::string_view key) {
  if (auto* v = o.if_contains(key); v && v->is_string()) return std::string(v->as_string());
  return {};
}

}  // namespace

proxy::debug_answer own_answer(int status, std::string why, std::string kind, std::optional<int> retry_after_s) {
  proxy::debug_answer a;
  a.status = status;
  a.reason = std::string(proxy::reason_phrase(status));
  a.headers.emplace_back("Content-Type", "text/plain; charset=utf-8");
  a.headers.emplace_back("Cache-Control", "no-store");
  if (retry_after_s) a.headers.emplace_back("Retry-After", std::to_string(*retry_after_s));
  a.body = "hindsight: " + why + "\n";
  a.error = std::move(why);
  a.error_kind = std::move(kind);
  return a;
}

proxy::debug_answer app_answer(const json::object& response, std::string body, bool traceback_page,
                               const replay::page_context& context) {
  const json::value* exception = response.if_contains("exception");
  if (traceback_page && exception && exception->is_object()) {
    proxy::debug_answer a;
    a.status = 500;
    a.reason = "Internal Server Error";
    a.headers = {{"Content-Type", "text/html; charset=utf-8"},
                 {"Content-Security-Policy", std::string(replay::traceback_page_csp())},
                 {"X-Content-Type-Options", "nosniff"},
                 {"Cache-Control", "no-store"},
                 {"Referrer-Policy", "no-referrer"}};
    a.body = replay::traceback_page(exception->as_object(), context);
    return a;
  }
  auto status = replay::parse_status(string_of(response, "status"));
  if (!status) {
    // The app raised before start_response: gunicorn answers a bare 500 then.
    proxy::debug_answer a;
    a.status = 500;
    a.reason = "Internal Server Error";
    a.headers = {{"Content-Type", "text/plain"}};
    a.body = "Internal Server Error";
    return a;
  }
  if (status->code < 200 || status->code > 999)
    return own_answer(502, "the app answered with status " + std::to_string(status->code) +
                               ", which a debug session cannot pass on", "malformed");
  if (auto* t = response.if_contains("body_truncated"); t && t->is_bool() && t->as_bool())
    return own_answer(502, "the app's response body is larger than a debug session passes on (" +
                               std::to_string(body.size()) + " bytes kept)", "malformed");
  proxy::debug_answer a;
  a.status = status->code;
  a.reason = utf8_to_latin1(status->reason).value_or("");
  if (!proxy::is_field_value(a.reason)) a.reason = std::string(proxy::reason_phrase(a.status));
  if (auto* headers = response.if_contains("headers"); headers && headers->is_array()) {
    for (const auto& h : headers->as_array()) {
      if (!h.is_array() || h.as_array().size() != 2 || !h.as_array()[0].is_string() || !h.as_array()[1].is_string())
        continue;
      auto name = utf8_to_latin1(h.as_array()[0].as_string());
      auto value = utf8_to_latin1(h.as_array()[1].as_string());
      if (!name || !value || !proxy::is_token(*name) || !proxy::is_field_value(*value)) {
        return own_answer(502, "the app sent a response header field the proxy cannot pass on safely (" +
                                   std::string(h.as_array()[0].as_string().subview().substr(0, 64)) +
                                   "): a line break, a control character or a character beyond latin-1",
                          "malformed");
      }
      if (dropped_field(*name)) continue;
      a.headers.emplace_back(std::move(*name), std::move(*value));
    }
  }
  // No body for these, whatever the app wrote (RFC 9110 §6.4.1).
  if (a.status == 204 || a.status == 304) body.clear();
  a.body = std::move(body);
  return a;
}

}  // namespace hindsight::debug
