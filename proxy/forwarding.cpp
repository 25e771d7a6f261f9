#include "proxy/forwarding.hpp"

#include <charconv>

namespace hindsight::proxy {
namespace {

void append_number(std::string& out, std::uint64_t n) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

void append_content_length(std::string& out, std::uint64_t n) {
  out.append("Content-Length: ");
  append_number(out, n);
  out.append("\r\n");
}

bool skipped_end_to_end(const field& f, const std::vector<std::string_view>& options) {
  return is_hop_by_hop(f.name) || listed_in(options, f.name);
}

}  // namespace

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

void write_upstream_request_head(const request_head& req, std::string_view client_ip, std::string& out) {
  out.append(req.method).append(" ").append(req.origin_target).append(" HTTP/1.1\r\n");
  // HTTP/1.1 requires Host; an HTTP/1.0 client may have sent none, and then the target
  // has no authority: RFC 9112 §3.2 says to send it empty.
  append_field(out, "Host", req.has_host ? req.host : std::string_view{});

  std::string forwarded_for;
  for (const auto& f : req.fields) {
    if (skipped_end_to_end(f, req.connection_options) || iequals(f.name, "host") || iequals(f.name, "expect"))
      continue;
    if (iequals(f.name, "x-forwarded-for")) {
      // Several X-Forwarded-For fields are one list (RFC 9110 §5.3); send them as one.
      if (!forwarded_for.empty()) forwarded_for += ", ";
      forwarded_for.append(f.value);
      continue;
    }
    append_field(out, f.name, f.value);
  }
  if (!client_ip.empty()) {
    if (!forwarded_for.empty()) forwarded_for += ", ";
    forwarded_for.append(client_ip);
  }
  if (!forwarded_for.empty()) append_field(out, "X-Forwarded-For", forwarded_for);

  switch (req.framing) {
    case body_framing::content_length: append_content_length(out, req.content_length); break;
    case body_framing::chunked: out.append("Transfer-Encoding: chunked\r\n"); break;
    default:
      if (req.has_content_length) out.append("Content-Length: 0\r\n");
      break;
  }
  if (req.upgrade) {
    out.append("Connection: upgrade\r\n");
    append_field(out, "Upgrade", req.upgrade_protocol);
  }
  out.append("\r\n");
}

void write_interim_response_head(const response_head& res, std::string& out) {
  out.append("HTTP/1.1 ");
  append_number(out, static_cast<unsigned>(res.status));
  out.append(" ").append(res.reason).append("\r\n");
  for (const auto& f : res.fields)
    if (!skipped_end_to_end(f, res.connection_options)) append_field(out, f.name, f.value);
  out.append("\r\n");
}

response_plan write_client_response_head(const response_head& res, const request_head& req, bool must_close,
                                         std::string& out) {
  response_plan plan;
  out.append("HTTP/1.1 ");
  append_number(out, static_cast<unsigned>(res.status));
  out.append(" ").append(res.reason).append("\r\n");
  for (const auto& f : res.fields)
    if (!skipped_end_to_end(f, res.connection_options)) append_field(out, f.name, f.value);

  if (res.status == 101) {
    for (const auto& f : res.fields)
      if (iequals(f.name, "upgrade")) append_field(out, f.name, f.value);
    out.append("Connection: upgrade\r\n\r\n");
    plan.framing = client_framing::tunnel;
    plan.close = true;
    return plan;
  }

  bool close = must_close || !req.keep_alive;
  switch (res.framing) {
    case body_framing::none:
      // HEAD and 304 keep the Content-Length of the representation (RFC 9110 §8.6); a
      // 200 with Content-Length: 0 keeps it too. 1xx and 204 never carry one.
      if (res.has_content_length && res.status != 204 && res.status >= 200) append_content_length(out, res.content_length);
      plan.framing = client_framing::none;
      break;
    case body_framing::content_length:
      append_content_length(out, res.content_length);
      plan.framing = client_framing::content_length;
      break;
    case body_framing::chunked:
    case body_framing::until_close:
      if (req.version == 11) {
        out.append("Transfer-Encoding: chunked\r\n");
        plan.framing = client_framing::chunked;
      } else {
        plan.framing = client_framing::until_close;
        close = true;
      }
      break;
  }
  if (close) out.append("Connection: close\r\n");
  else if (req.version == 10) out.append("Connection: keep-alive\r\n");
  out.append("\r\n");
  plan.close = close;
  return plan;
}

std::string own_response(int status, std::string_view why) {
  std::string body = "hindsight: ";
  body.append(why).append("\n");
  std::string out = "HTTP/1.1 ";
  append_number(out, static_cast<unsigned>(status));
  out.append(" ").append(reason_phrase(status)).append("\r\n");
  out.append("Server: hindsight\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ");
  append_number(out, body.size());
  out.append("\r\n");
  if (status == 503) out.append("Retry-After: 1\r\n");
  out.append("Connection: close\r\n\r\n").append(body);
  return out;
}

}  // namespace hindsight::proxy
