#include "proxy/rules.hpp"

#include <arpa/inet.h>

#include <array>
#include <boost/regex.hpp>
#include <charconv>
#include <optional>

namespace hindsight::proxy {
namespace {

constexpr std::size_t npos = std::string_view::npos;

// An IPv4 address is kept as an IPv4-mapped IPv6 one, so one comparison serves both.
struct ip_address {
  std::array<unsigned char, 16> bytes{};
  bool v4 = false;
};

std::optional<ip_address> parse_ip(std::string_view text) {
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
  text.copy(buf, text.size());
  buf[text.size()] = '\0';
  ip_address a;
  unsigned char v4[4];
  if (::inet_pton(AF_INET, buf, v4) == 1) {
    a.bytes[10] = a.bytes[11] = 0xff;
    std::copy(v4, v4 + 4, a.bytes.begin() + 12);
    a.v4 = true;
    return a;
  }
  if (::inet_pton(AF_INET6, buf, a.bytes.data()) == 1) {
    static constexpr unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    a.v4 = std::equal(mapped, mapped + 12, a.bytes.begin());
    return a;
  }
  return std::nullopt;
}

struct cidr {
  ip_address network;
  unsigned prefix = 128;  // in bits of the 16-byte form

  bool contains(const ip_address& a) const {
    unsigned full = prefix / 8, rest = prefix % 8;
    if (!std::equal(network.bytes.begin(), network.bytes.begin() + full, a.bytes.begin())) return false;
    if (rest == 0) return true;
    auto mask = static_cast<unsigned char>(0xff << (8 - rest));
    return (network.bytes[full] & mask) == (a.bytes[full] & mask);
  }
};

cidr parse_cidr(std::string_view text) {
  auto slash = text.find('/');
  auto addr = text.substr(0, slash);
  auto ip = parse_ip(addr);
  if (!ip)
    throw rule_error("--client", std::string(text), 0,
                     "'" + std::string(addr) + "' is not an IPv4 or IPv6 address (write 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32)");
  cidr c{*ip, 128};
  unsigned max = ip->v4 ? 32 : 128;
  if (slash != npos) {
    auto len = text.substr(slash + 1);
    unsigned n = 0;
    auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), n);
    if (len.empty() || ec != std::errc{} || end != len.data() + len.size() || n > max)
      throw rule_error("--client", std::string(text), slash + 1,
                       "the prefix length must be a number from 0 to " + std::to_string(max));
    c.prefix = ip->v4 ? n + 96 : n;
  }
  // Host bits set in the network are ignored, as `ip route` would not: say so instead.
  cidr masked = c;
  for (unsigned bit = c.prefix; bit < 128; ++bit) masked.network.bytes[bit / 8] &= static_cast<unsigned char>(~(0x80 >> (bit % 8)));
  if (masked.network.bytes != c.network.bytes)
    throw rule_error("--client", std::string(text), slash == npos ? 0 : slash + 1,
                     "the address has bits set beyond the prefix length; write the network address");
  return c;
}

// Shell-style glob on bytes: * (any run, '/' included, as `list --path`), ?, [abc],
// [a-z], [!x]. Iterative, with one backtrack point: linear in practice.
bool glob_class(std::string_view p, std::size_t& i, char c) {
  // p[i] is '['; on return i is past the closing ']'.
  ++i;
  bool negate = i < p.size() && (p[i] == '!' || p[i] == '^');
  if (negate) ++i;
  bool matched = false, first = true;
  while (i < p.size() && (p[i] != ']' || first)) {
    first = false;
    char lo = p[i];
    if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      char hi = p[i + 2];
      if (c >= lo && c <= hi) matched = true;
      i += 3;
    } else {
      if (c == lo) matched = true;
      ++i;
    }
  }
  ++i;  // the ']'
  return matched != negate;
}

bool glob_match(std::string_view p, std::string_view s) {
  std::size_t pi = 0, si = 0, star = npos, star_s = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = ++pi;
      star_s = si;
      continue;
    }
    if (pi < p.size()) {
      if (p[pi] == '?') {
        ++pi;
        ++si;
        continue;
      }
      if (p[pi] == '[') {
        std::size_t next = pi;
        if (glob_class(p, next, s[si])) {
          pi = next;
          ++si;
          continue;
        }
      } else if (p[pi] == s[si]) {
        ++pi;
        ++si;
        continue;
      }
    }
    if (star == npos) return false;
    pi = star;
    si = ++star_s;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

void check_glob(std::string_view option, std::string_view text, std::string_view glob, std::size_t offset) {
  for (std::size_t i = 0; i < glob.size(); ++i) {
    if (glob[i] != '[') continue;
    auto close = glob.find(']', i + 2);
    if (close == npos) throw rule_error(std::string(option), std::string(text), offset + i, "'[' without its closing ']'");
    i = close;
  }
}

boost::regex compile_regex(std::string_view option, std::string_view text, std::string_view expression,
                           std::size_t offset) {
  if (expression.empty()) throw rule_error(std::string(option), std::string(text), offset, "an empty regular expression");
  try {
    return boost::regex(expression.begin(), expression.end(), boost::regex::perl);
  } catch (const boost::regex_error& e) {
    // Said as the regex engine counts, within the expression; the caret goes under the value.
    std::string what = boost::regex_traits<char>().error_string(e.code());
    if (e.position() < 0) throw rule_error(std::string(option), std::string(text), npos, "regex error: " + what);
    auto at = static_cast<std::size_t>(e.position());
    throw rule_error(std::string(option), std::string(text), offset + at,
                     "regex error at position " + std::to_string(at) + ": " + what, true);
  }
}

// Regular expressions run on what clients send, and a capture rule needs no token: the
// input is bounded, and a match Boost.Regex gives up on (it throws past its complexity
// limit) is no match rather than an exception through the request's coroutine.
constexpr std::size_t max_regex_input = 4096;

bool regex_found(const boost::regex& re, std::string_view v) {
  v = v.substr(0, max_regex_input);
  try {
    return boost::regex_search(v.begin(), v.end(), re);
  } catch (const std::exception&) {
    return false;
  }
}

// A value as the user wrote it: exact, or re:REGEX (searched: anchor it with ^ and $).
struct value_matcher {
  std::string exact;
  std::optional<boost::regex> regex;
  bool any = true;  // no value given: presence is enough

  bool matches(std::string_view v) const {
    if (any) return true;
    if (regex) return regex_found(*regex, v);
    return v == exact;
  }
};

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void check_token(std::string_view option, std::string_view text, std::string_view name, std::size_t offset,
                 std::string_view what) {
  if (name.empty()) throw rule_error(std::string(option), std::string(text), offset, "the " + std::string(what) + " is empty");
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (!is_token(name.substr(i, 1)))
      throw rule_error(std::string(option), std::string(text), offset + i,
                       "'" + std::string(1, name[i]) + "' cannot be part of a " + std::string(what));
  }
}

}  // namespace

struct compiled_rule::matchers {
  std::string method;
  bool path_any = true;
  std::string path_glob;
  std::optional<boost::regex> path_regex;
  bool query_any = true;
  std::string query_name;
  std::optional<std::string> query_value;
  bool header_any = true;
  std::string header_name;
  value_matcher header_value;
  bool cookie_any = true;
  std::string cookie_name;
  std::optional<std::string> cookie_value;
  std::optional<cidr> client;
};

rule_error::rule_error(std::string option_, std::string text_, std::size_t position_, std::string message_,
                       bool message_has_position)
    : std::invalid_argument(option_ + " '" + text_ + "': " +
                            (position_ == npos || message_has_position
                                 ? message_
                                 : message_ + " (at position " + std::to_string(position_) + ")")),
      option(std::move(option_)),
      text(std::move(text_)),
      position(position_),
      message(std::move(message_)) {}

std::string_view to_string(rule_action a) {
  switch (a) {
    case rule_action::capture: return "capture";
    case rule_action::traceback: return "traceback";
    case rule_action::pdb: return "pdb";
    case rule_action::break_at: return "break";
    case rule_action::post_mortem: return "post-mortem";
  }
  return "?";
}

std::pair<rule_action, std::string> parse_action(std::string_view text) {
  auto space = text.find(' ');
  auto word = text.substr(0, space);
  auto arg = space == npos ? std::string_view{} : trim(text.substr(space + 1));
  const std::string t(text);
  auto no_argument = [&](rule_action a) {
    if (!arg.empty()) throw rule_error("--do", t, space + 1, "'" + std::string(word) + "' takes no argument");
    return std::pair{a, std::string()};
  };
  if (word == "capture") return no_argument(rule_action::capture);
  if (word == "traceback") return no_argument(rule_action::traceback);
  if (word == "pdb") return no_argument(rule_action::pdb);
  if (word == "post-mortem" || word == "post_mortem") return no_argument(rule_action::post_mortem);
  if (word == "break") {
    if (arg.empty()) throw rule_error("--do", t, text.size(), "break needs FILE:LINE[:COND], e.g. 'break shop/views.py:42'");
    auto arg_at = text.size() - arg.size();
    auto colon = arg.find(':');
    if (colon == npos || colon == 0)
      throw rule_error("--do", t, arg_at + (colon == npos ? arg.size() : 0), "break needs FILE:LINE[:COND], e.g. 'break shop/views.py:42'");
    auto rest = arg.substr(colon + 1);
    auto line = rest.substr(0, rest.find(':'));
    unsigned n = 0;
    auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), n);
    if (line.empty() || ec != std::errc{} || end != line.data() + line.size() || n == 0)
      throw rule_error("--do", t, arg_at + colon + 1, "the line after FILE: must be a positive number");
    auto cond_colon = rest.find(':');
    if (cond_colon != npos && trim(rest.substr(cond_colon + 1)).empty())
      throw rule_error("--do", t, arg_at + colon + 1 + cond_colon + 1, "an empty condition after FILE:LINE:");
    return {rule_action::break_at, std::string(arg)};
  }
  throw rule_error("--do", t, 0, "unknown action '" + std::string(word) + "': use capture, traceback, pdb, 'break FILE:LINE[:COND]' or post-mortem");
}

std::string_view client_address(const request_view& req) {
  if (!req.peer.empty()) return req.peer;
  // A unix-socket peer is the router (Platform.sh, Upsun): the client is the address it
  // appended last to X-Forwarded-For. A TCP peer's own X-Forwarded-For is not trusted.
  std::string_view last;
  if (req.fields)
    for (const auto& f : *req.fields)
      if (iequals(f.name, "x-forwarded-for")) last = f.value;
  auto comma = last.rfind(',');
  return trim(comma == npos ? last : last.substr(comma + 1));
}

compiled_rule::compiled_rule(store::rule_record record, std::shared_ptr<rule_hits> hits)
    : record_(std::move(record)), hits_(hits ? std::move(hits) : std::make_shared<rule_hits>()) {
  auto m = std::make_shared<matchers>();
  const auto& r = record_;
  action_ = parse_action(r.action_arg.empty() ? r.action : r.action + " " + r.action_arg).first;

  if (!r.method.empty()) {
    check_token("--method", r.method, r.method, 0, "method");
    m->method = r.method;
  }
  if (!r.path.empty()) {
    m->path_any = false;
    if (r.path.starts_with("re:")) {
      m->path_regex = compile_regex("--path", r.path, std::string_view(r.path).substr(3), 3);
    } else {
      check_glob("--path", r.path, r.path, 0);
      m->path_glob = r.path;
    }
  }
  if (!r.query.empty()) {
    m->query_any = false;
    auto eq = r.query.find('=');
    m->query_name = r.query.substr(0, eq);
    if (m->query_name.empty()) throw rule_error("--query", r.query, 0, "the parameter name is empty (write name or name=value)");
    if (eq != npos) m->query_value = r.query.substr(eq + 1);
  }
  if (!r.header.empty()) {
    m->header_any = false;
    // name=value, name=re:REGEX, name; "Name: value" as curl's -H writes it is taken too.
    auto sep = r.header.find_first_of("=:");
    m->header_name = r.header.substr(0, sep);
    check_token("--header", r.header, m->header_name, 0, "header name");
    if (sep != npos) {
      std::string_view value = std::string_view(r.header).substr(sep + 1);
      std::size_t at = sep + 1;
      if (r.header[sep] == ':') {
        auto trimmed = trim(value);
        at += static_cast<std::size_t>(trimmed.data() - value.data());
        value = trimmed;
      }
      m->header_value.any = false;
      if (value.starts_with("re:")) m->header_value.regex = compile_regex("--header", r.header, value.substr(3), at + 3);
      else m->header_value.exact = std::string(value);
    }
  }
  if (!r.cookie.empty()) {
    m->cookie_any = false;
    auto eq = r.cookie.find('=');
    m->cookie_name = r.cookie.substr(0, eq);
    check_token("--cookie", r.cookie, m->cookie_name, 0, "cookie name");
    if (eq != npos) m->cookie_value = r.cookie.substr(eq + 1);
  }
  if (!r.client.empty()) m->client = parse_cidr(r.client);
  if (r.method.empty() && r.path.empty() && r.query.empty() && r.header.empty() && r.cookie.empty() && r.client.empty())
    throw rule_error("--do", r.action, npos,
                     "a rule needs at least one of --method, --path, --query, --header, --cookie, --client "
                     "(--path '*' matches every request)");
  match_ = std::move(m);
}

const char* compiled_rule::mismatch(const request_view& req) const {
  const auto& m = *match_;
  if (!m.method.empty() && !iequals(m.method, req.method)) return "--method";
  auto q = req.target.find('?');
  if (!m.path_any) {
    auto path = req.target.substr(0, q);
    bool ok = m.path_regex ? regex_found(*m.path_regex, path) : glob_match(m.path_glob, path);
    if (!ok) return "--path";
  }
  if (!m.query_any) {
    bool found = false;
    auto query = q == npos ? std::string_view{} : req.target.substr(q + 1);
    for (std::size_t start = 0; !found && q != npos && start <= query.size();) {
      auto amp = query.find('&', start);
      auto param = query.substr(start, amp == npos ? npos : amp - start);
      auto eq = param.find('=');
      if (form_decodes_to(param.substr(0, eq), m.query_name))
        found = !m.query_value || form_decodes_to(eq == npos ? std::string_view{} : param.substr(eq + 1), *m.query_value);
      if (amp == npos) break;
      start = amp + 1;
    }
    if (!found) return "--query";
  }
  if (!m.header_any) {
    bool found = false;
    for (const auto& f : *req.fields)
      if (iequals(f.name, m.header_name) && m.header_value.matches(f.value)) {
        found = true;
        break;
      }
    if (!found) return "--header";
  }
  if (!m.cookie_any) {
    bool found = false;
    for (const auto& f : *req.fields) {
      if (!iequals(f.name, "cookie")) continue;
      for (std::size_t start = 0; !found && start <= f.value.size();) {
        auto semi = f.value.find(';', start);
        auto pair = trim(f.value.substr(start, semi == npos ? npos : semi - start));
        auto eq = pair.find('=');
        if (pair.substr(0, eq) == m.cookie_name) {
          auto v = eq == npos ? std::string_view{} : pair.substr(eq + 1);
          if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
          found = !m.cookie_value || v == *m.cookie_value;
        }
        if (semi == npos) break;
        start = semi + 1;
      }
      if (found) break;
    }
    if (!found) return "--cookie";
  }
  if (m.client) {
    auto ip = parse_ip(client_address(req));
    if (!ip || !m.client->contains(*ip)) return "--client";
  }
  return nullptr;
}

bool compiled_rule::take_hit() const {
  auto& count = hits_->count;
  if (!record_.max_hits) {
    count.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  auto n = count.load(std::memory_order_relaxed);
  do {
    if (n >= *record_.max_hits) return false;
  } while (!count.compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
  return true;
}

const compiled_rule* rule_set::fire(const request_view& req, bool token_valid, std::int64_t now_us) const {
  for (const auto& r : rules_) {
    if (!r.record().enabled || r.expired(now_us)) continue;
    if (is_debug(r.action()) && !token_valid) continue;
    if (r.mismatch(req)) continue;
    if (!r.take_hit()) continue;
    return &r;
  }
  return nullptr;
}

std::vector<rule_explanation> rule_set::explain(const request_view& req, std::string_view token_problem,
                                                std::int64_t now_us) const {
  std::vector<rule_explanation> out;
  const compiled_rule* fired = nullptr;
  for (const auto& r : rules_) {
    const auto& rec = r.record();
    rule_explanation e{&r, rule_verdict::fires, {}};
    if (!rec.enabled) {
      e = {&r, rule_verdict::disabled, "disabled (`hindsight rules enable " + rec.name + "`)"};
    } else if (r.expired(now_us)) {
      e = {&r, rule_verdict::expired, "expired"};
    } else if (rec.max_hits && r.hits().count.load() >= *rec.max_hits) {
      e = {&r, rule_verdict::max_hits, "max hits reached (" + std::to_string(*rec.max_hits) + ")"};
    } else if (const char* option = r.mismatch(req)) {
      std::string_view pattern = std::string_view(option) == "--method" ? rec.method
                                 : std::string_view(option) == "--path"   ? rec.path
                                 : std::string_view(option) == "--query"  ? rec.query
                                 : std::string_view(option) == "--header" ? rec.header
                                 : std::string_view(option) == "--cookie" ? rec.cookie
                                                                          : rec.client;
      std::string seen;
      if (std::string_view(option) == "--client") {
        auto c = client_address(req);
        seen = c.empty() ? " (the request has no client address)" : " (client " + std::string(c) + ")";
      }
      e = {&r, rule_verdict::no_match, std::string(option) + " '" + std::string(pattern) + "' does not match" + seen};
    } else if (is_debug(r.action()) && !token_problem.empty()) {
      e = {&r, rule_verdict::no_token, "no valid debug token: " + std::string(token_problem)};
    } else if (fired) {
      e = {&r, rule_verdict::earlier_rule, "matches, but rule '" + fired->record().name + "' fires first"};
    } else {
      fired = &r;
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace hindsight::proxy
