#include "proxy/capture.hpp"

#include <algorithm>
#include <charconv>
#include <random>
#include <stdexcept>

#include "proxy/forwarding.hpp"
#include "proxy/http_head.hpp"

namespace hindsight::proxy {

namespace {

// Above this, a tee buffer is given back after an exchange instead of kept for the
// next: thousands of idle keep-alive connections must not each hold a body's worth.
constexpr std::size_t keep_capacity = 8 * 1024;
// The start of any response body is copied: an app that fails after it began a
// successful answer is kept, and this much shows what it was sending.
constexpr std::size_t always_copied = 4096;

int parse_status(std::string_view s, std::string_view whole) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.size() != 3 || v < 100 || v > 599)
    throw std::invalid_argument("'" + std::string(s) + "' in '" + std::string(whole) +
                                "' is not an HTTP status (100–599); write e.g. 500-599,429 or 5xx");
  return v;
}

// A head's parts: the first line without its CRLF, and the field lines after it
// (each with its CRLF) without the final empty line. Leading empty lines are skipped.
struct head_parts {
  std::string_view first_line, fields;
};

head_parts split_head(std::string_view head) {
  while (head.starts_with("\r\n")) head.remove_prefix(2);
  head_parts parts;
  auto eol = head.find("\r\n");
  if (eol == std::string_view::npos) return {head, {}};
  parts.first_line = head.substr(0, eol);
  auto rest = head.substr(eol + 2);
  if (rest.ends_with("\r\n")) rest.remove_suffix(2);
  parts.fields = rest;
  return parts;
}

std::string_view field_value(const std::vector<field>& fields, std::string_view name) {
  for (auto& f : fields)
    if (iequals(f.name, name)) return f.value;
  return {};
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

std::vector<std::pair<int, int>> parse_status_ranges(std::string_view text) {
  std::vector<std::pair<int, int>> out;
  if (text.empty()) throw std::invalid_argument("an empty status list; write e.g. 500-599,429 or 5xx");
  // Every item between commas counts, so "500," and "500,,502" are refused.
  for (std::size_t start = 0; start <= text.size();) {
    auto comma = text.find(',', start);
    auto part = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    start = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    while (!part.empty() && (part.front() == ' ' || part.front() == '\t')) part.remove_prefix(1);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\t')) part.remove_suffix(1);
    if (part.size() == 3 && (part[1] == 'x' || part[1] == 'X') && (part[2] == 'x' || part[2] == 'X') &&
        part[0] >= '1' && part[0] <= '5') {
      int first = (part[0] - '0') * 100;
      out.emplace_back(first, first + 99);
      continue;
    }
    auto dash = part.find('-');
    if (dash == std::string_view::npos) {
      int v = parse_status(part, text);
      out.emplace_back(v, v);
    } else {
      int a = parse_status(part.substr(0, dash), text), b = parse_status(part.substr(dash + 1), text);
      if (a > b) throw std::invalid_argument("the range '" + std::string(part) + "' in '" + std::string(text) + "' is backwards");
      out.emplace_back(a, b);
    }
  }
  return out;
}

std::string status_ranges_text(const std::vector<std::pair<int, int>>& ranges) {
  std::string out;
  for (auto [a, b] : ranges) {
    if (!out.empty()) out += ',';
    out += std::to_string(a);
    if (b != a) out += '-' + std::to_string(b);
  }
  return out;
}

bool capture_policy::status_wanted(int status) const {
  for (auto [a, b] : statuses)
    if (status >= a && status <= b) return true;
  return false;
}

void fill_request_parts(store::capture& c, std::string_view raw_head) {
  // The head was valid when it arrived; parsing the copy again gives its parts.
  request_head req;
  head_limits generous{raw_head.size(), raw_head.size(), 100'000};
  parse_request_head(raw_head, req, generous);
  c.method = req.method;
  c.target = req.target;
  c.version = req.version;
  c.host = req.host;
  auto proto = field_value(req.fields, "X-Forwarded-Proto");
  c.scheme = proto.empty() ? "http" : lowercase(trim(proto.substr(0, proto.find(','))));
  c.request_headers = split_head(raw_head).fields;
}

void capture_tee::begin(std::string_view raw_head) {
  reset();
  request_head_.assign(raw_head);
}

void capture_tee::response_head(std::string_view raw_head, int status) {
  // The head is small and tells what the app said even when the exchange is kept for
  // another reason (the app died in the middle of the body). The body is copied in full
  // (up to the limit) only when the status alone may keep it; otherwise only its start,
  // which is enough to see what the app was sending, without copying every large
  // successful response a second time.
  response_head_.assign(raw_head);
  response_copy_limit_ = rule_keep_ || policy_.status_wanted(status) || policy_.keeps_any_status()
                             ? policy_.response_body_limit
                             : std::min(policy_.response_body_limit, always_copied);
}

const char* capture_tee::reason_to_keep(const exchange_outcome& o) const {
  if (o.status == 0) return nullptr;  // the client went away: nobody got an answer to debug
  if (!o.upstream_error_kind.empty()) return "error";
  if (policy_.status_wanted(o.status)) return "status";
  if (rule_keep_) return "rule";
  // A WebSocket's exchange lasts as long as its tunnel: neither slow nor a sample.
  if (o.status == 101) return nullptr;
  if (policy_.slow && o.duration_ms >= static_cast<double>(policy_.slow->count())) return "slow";
  if (policy_.sample > 0) {
    thread_local std::minstd_rand random{std::random_device{}()};
    if (std::uniform_real_distribution<double>(0, 1)(random) < policy_.sample) return "sample";
  }
  return nullptr;
}

std::optional<store::capture> capture_tee::finish(const exchange_outcome& o) {
  const char* why = policy_.enabled ? reason_to_keep(o) : nullptr;
  if (!why) {
    reset();
    return std::nullopt;
  }
  store::capture c;
  c.captured_because = why;
  c.time_us = std::chrono::duration_cast<std::chrono::microseconds>(o.started.time_since_epoch()).count();
  c.client = o.client;

  fill_request_parts(c, request_head_);
  c.request_body_size = request_size_;
  c.request_body_truncated = request_body_.size() < request_size_;
  c.request_complete = request_complete_;
  c.request_body = std::move(request_body_);

  c.status = o.status;
  if (o.proxy_answered) {
    // What the client got is the proxy's own answer, whatever the app sent before failing.
    auto end = o.own_answer.find("\r\n\r\n");
    auto head = o.own_answer.substr(0, end == std::string_view::npos ? o.own_answer.size() : end + 4);
    auto parts = split_head(head);
    c.reason = reason_phrase(o.status);
    c.response_headers = parts.fields;
    c.response_body = end == std::string_view::npos ? std::string() : std::string(o.own_answer.substr(end + 4));
    c.response_body_size = c.response_body.size();
  } else {
    auto parts = split_head(response_head_);
    // "HTTP/1.1 500 Internal Server Error": the reason is what follows the second space.
    auto line = parts.first_line;
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    c.reason = sp2 == std::string_view::npos ? std::string() : std::string(line.substr(sp2 + 1));
    c.response_headers = parts.fields;
    c.response_body_size = response_size_;
    c.response_body_truncated = response_body_.size() < response_size_;
    c.response_body = std::move(response_body_);
  }
  c.duration_ms = o.duration_ms;
  c.upstream_ms = o.upstream_ms;
  c.upstream_error_kind = o.upstream_error_kind;
  c.upstream_error = o.error;
  c.app_restarted = o.app_restarted;
  reset();
  return c;
}

void capture_tee::reset() {
  for (auto* s : {&request_head_, &request_body_, &response_head_, &response_body_}) {
    if (s->capacity() > keep_capacity) std::string().swap(*s);
    else s->clear();
  }
  request_size_ = response_size_ = 0;
  request_complete_ = true;
  rule_keep_ = false;
  response_copy_limit_ = 0;
}

}  // namespace hindsight::proxy
