#include "cli/rules_command.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <charconv>
#include <cstdio>
#include <optional>

#include "cli/data_dir.hpp"
#include "cli/duration.hpp"
#include "cli/json_output.hpp"
#include "cli/store_options.hpp"
#include "cli/text_encoding.hpp"
#include "cli/text_table.hpp"
#include "cli/time_format.hpp"
#include "proxy/http_head.hpp"
#include "proxy/rules.hpp"
#include "proxy/token.hpp"
#include "store/queries.hpp"
#include "store/rules.hpp"
#include "store/schema.hpp"
#include "store/sqlite.hpp"

namespace hindsight::cli {
namespace {

namespace json = boost::json;
using store::sqlite::database;

// Debug actions trap requests in a debugger: they end by themselves unless told otherwise.
constexpr auto default_debug_ttl = std::chrono::hours(1);

// The store, created (data directory 0700, file 0600) and brought to this build's schema.
database open_store(const std::string& data_option, bool create) {
  auto dir = create ? data_dir_for_cli(data_option) : locate_store(data_option).data.string();
  auto path = dir + "/captures.db";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
  database db(path, store::sqlite::open_mode::create);
  store::prepare_for_writing(db);
  return db;
}

std::string show(std::string_view text) { return escape_controls(utf8_or_latin1(text)); }

// "GET path=/ok/* query=pdb=1": the match fields that are set.
std::string match_text(const store::rule_record& r) {
  std::string out;
  auto add = [&](std::string_view label, const std::string& v) {
    if (v.empty()) return;
    if (!out.empty()) out += ' ';
    out.append(label).append(v);
  };
  add("", r.method);
  add("path=", r.path);
  add("query=", r.query);
  add("header=", r.header);
  add("cookie=", r.cookie);
  add("client=", r.client);
  return show(out);
}

std::string action_text(const store::rule_record& r) {
  return r.action_arg.empty() ? r.action : r.action + " " + r.action_arg;
}

// enabled, disabled, expired, exhausted.
std::string state_of(const store::rule_record& r, std::int64_t now) {
  if (!r.enabled) return "disabled";
  if (r.expires_us && now >= *r.expires_us) return "expired";
  if (r.max_hits && r.hits >= *r.max_hits) return "exhausted";
  return "enabled";
}

json::value rule_json(const store::rule_record& r, std::int64_t now) {
  auto opt = [](const std::string& s) { return s.empty() ? json::value(nullptr) : json::value(utf8_or_latin1(s)); };
  return json::object{{"id", r.id},
                      {"name", utf8_or_latin1(r.name)},
                      {"enabled", r.enabled},
                      {"state", state_of(r, now)},
                      {"method", opt(r.method)},
                      {"path", opt(r.path)},
                      {"query", opt(r.query)},
                      {"header", opt(r.header)},
                      {"cookie", opt(r.cookie)},
                      {"client", opt(r.client)},
                      {"action", r.action},
                      {"action_arg", opt(r.action_arg)},
                      {"hits", r.hits},
                      {"max_hits", r.max_hits ? json::value(*r.max_hits) : json::value(nullptr)},
                      {"expires", r.expires_us ? json::value(iso8601_ms(*r.expires_us)) : json::value(nullptr)},
                      {"created", iso8601_ms(r.created_us)}};
}

// A malformed rule: the message, then the value with a caret under the error.
[[noreturn]] void refuse(const proxy::rule_error& e) {
  std::string message = e.what();
  if (e.position != std::string::npos) {
    message += "\n  " + e.text + "\n  " + std::string(std::min(e.position, e.text.size()), ' ') + "^";
  }
  throw usage_error(message);
}

int add(const rules_options& o) {
  store::rule_record r;
  r.method = o.method;
  r.path = o.path;
  r.query = o.query;
  r.header = o.header;
  r.cookie = o.cookie;
  r.client = o.client;
  proxy::rule_action action;
  try {
    auto [a, arg] = proxy::parse_action(o.action);
    action = a;
    r.action = std::string(proxy::to_string(a));
    r.action_arg = arg;
  } catch (const proxy::rule_error& e) {
    refuse(e);
  }
  const auto now = now_us();
  r.created_us = now;
  if (!o.ttl.empty()) {
    std::chrono::milliseconds ttl;
    try {
      ttl = parse_duration(o.ttl);
    } catch (const std::invalid_argument& e) {
      throw usage_error(std::string("--ttl: ") + e.what());
    }
    if (ttl.count() <= 0) throw usage_error("--ttl must be longer than 0 (leave it out: capture rules then never expire)");
    r.expires_us = now + std::chrono::duration_cast<std::chrono::microseconds>(ttl).count();
  } else if (proxy::is_debug(action)) {
    r.expires_us = now + std::chrono::duration_cast<std::chrono::microseconds>(default_debug_ttl).count();
  }
  if (o.max_hits > 0) r.max_hits = o.max_hits;
  if (!o.name.empty()) {
    bool digits = o.name.find_first_not_of("0123456789") == std::string::npos;
    bool blank = o.name.find_first_of(" \t\r\n") != std::string::npos;
    if (digits || blank)
      throw usage_error("--name '" + o.name + "': a rule name has no blanks and is not a number (numbers are ids)");
    r.name = o.name;
  }
  try {
    proxy::compiled_rule check(r);  // refuses what the proxy could not compile
  } catch (const proxy::rule_error& e) {
    refuse(e);
  }
  auto db = open_store(o.data, true);
  if (r.name.empty()) r.name = store::unused_rule_name(db, r.action);
  r.id = store::insert_rule(db, r);
  if (o.json) {
    std::printf("%s\n", to_json_text(rule_json(r, now)).c_str());
    return 0;
  }
  std::printf("added rule '%s' (id %lld): %s -> %s", show(r.name).c_str(), static_cast<long long>(r.id),
              match_text(r).c_str(), show(action_text(r)).c_str());
  if (r.max_hits) std::printf(", at most %llu hits", static_cast<unsigned long long>(*r.max_hits));
  if (r.expires_us) std::printf(", until %s", iso8601_seconds(*r.expires_us).c_str());
  std::printf("\na running proxy applies it within a second\n");
  if (proxy::is_debug(action))
    std::printf("it fires only for requests that carry a debug token (`hindsight token`); such a request runs in a "
                "debug worker, and `hindsight attach` shows its pdb prompt\n");
  return 0;
}

int list(const rules_options& o) {
  auto where = locate_store(o.data);
  std::vector<store::rule_record> rows;
  if (where.database_exists()) {
    auto db = open_store(o.data, false);
    rows = store::list_rules(db);
  }
  const auto now = now_us();
  if (o.json) {
    json::array a;
    for (const auto& r : rows) a.push_back(rule_json(r, now));
    std::printf("%s\n", to_json_text(a).c_str());
    return 0;
  }
  if (rows.empty()) {
    std::printf("no rules in %s (add one with `hindsight rules add`)\n", where.data.string().c_str());
    return 0;
  }
  text_table t({{"ID", text_table::align::right},
                {"NAME"},
                {"STATE"},
                {"MATCH"},
                {"ACTION"},
                {"HITS", text_table::align::right},
                {"EXPIRES"}});
  for (const auto& r : rows) {
    auto hits = std::to_string(r.hits) + (r.max_hits ? "/" + std::to_string(*r.max_hits) : "");
    t.add_row({std::to_string(r.id), show(r.name), state_of(r, now), match_text(r), show(action_text(r)), hits,
               r.expires_us ? iso8601_seconds(*r.expires_us) : "never"});
  }
  std::fputs(t.render().c_str(), stdout);
  return 0;
}

store::rule_record find_or_fail(database& db, const std::string& which) {
  auto r = store::find_rule(db, which);
  if (!r) throw std::runtime_error("no rule named '" + which + "' or with that id: `hindsight rules list` shows them");
  return *r;
}

int remove(const rules_options& o) {
  auto db = open_store(o.data, false);
  auto r = find_or_fail(db, o.rule);
  store::delete_rule(db, r.id);
  std::printf("removed rule '%s' (id %lld, %llu hits)\n", show(r.name).c_str(), static_cast<long long>(r.id),
              static_cast<unsigned long long>(r.hits));
  return 0;
}

int enable(const rules_options& o, bool on) {
  auto db = open_store(o.data, false);
  auto r = find_or_fail(db, o.rule);
  store::set_rule_enabled(db, r.id, on);
  std::printf("%s rule '%s' (id %lld)\n", on ? "enabled" : "disabled", show(r.name).c_str(), static_cast<long long>(r.id));
  return 0;
}

// The request `rules test` evaluates: a raw head the proxy's own parser reads.
struct test_request {
  std::string raw;
  std::string peer;  // as the proxy would have seen it ("" for a unix-socket peer)
};

test_request request_from_capture(const rules_options& o, const std::string& database, std::int64_t id) {
  store::reader reader(database);
  auto c = reader.get(id);
  if (!c) throw std::runtime_error("no capture " + std::to_string(id) + " (`hindsight list` shows them)");
  test_request t;
  t.raw = c->method + " " + c->target + (c->version == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n") + c->request_headers +
          "\r\n";
  t.peer = c->client == "unix" ? "" : c->client;
  if (!o.test_client.empty()) t.peer = o.test_client;
  return t;
}

test_request request_from_url(const rules_options& o) {
  std::string_view url = o.subject;
  std::string host = "localhost", target;
  for (std::string_view scheme : {"http://", "https://"}) {
    if (url.starts_with(scheme)) {
      url.remove_prefix(scheme.size());
      auto slash = url.find_first_of("/?");
      host = std::string(url.substr(0, slash));
      url = slash == std::string_view::npos ? std::string_view("/") : url.substr(slash);
      break;
    }
  }
  if (!url.starts_with('/')) {
    if (url.starts_with('?')) target = "/";
    else throw usage_error("'" + o.subject + "' is neither a capture id nor a URL (http://host/path?query or /path?query)");
  }
  target += url;
  bool has_host = false;
  std::string fields;
  for (const auto& h : o.headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos) throw usage_error("-H '" + h + "': write 'Name: value'");
    auto name = h.substr(0, colon);
    auto value = std::string_view(h).substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (proxy::iequals(name, "host")) has_host = true;
    fields += name + ": " + std::string(value) + "\r\n";
  }
  test_request t;
  t.raw = o.test_method + " " + target + " HTTP/1.1\r\n" + (has_host ? "" : "Host: " + host + "\r\n") + fields + "\r\n";
  t.peer = o.test_client.empty() ? "127.0.0.1" : o.test_client;
  return t;
}

int test(const rules_options& o) {
  auto where = locate_store(o.data);
  auto db = open_store(o.data, false);
  std::int64_t capture_id = 0;
  auto [end, ec] = std::from_chars(o.subject.data(), o.subject.data() + o.subject.size(), capture_id);
  bool is_capture = ec == std::errc{} && end == o.subject.data() + o.subject.size();
  auto t = is_capture ? request_from_capture(o, where.database.string(), capture_id) : request_from_url(o);

  proxy::request_head head;
  proxy::head_limits generous{t.raw.size(), t.raw.size(), 100'000};
  auto parsed = proxy::parse_request_head(t.raw, head, generous);
  if (parsed.state != proxy::parse_state::complete)
    throw usage_error("the proxy would refuse this request (" +
                      (parsed.error.reason.empty() ? std::string("incomplete head") : parsed.error.reason) + ")");
  proxy::token_scratch scratch;
  auto found = proxy::strip_debug_token(head, scratch);
  std::string token = o.token.empty() ? std::string(found.value) : o.token;

  const auto now = now_us();
  std::string token_state = "none";
  std::string token_problem =
      "none given (--token, or the X-Hindsight-Token header, hindsight_debug cookie or hindsight_token parameter)";
  if (!token.empty()) {
    auto secret = proxy::load_or_create_secret(where.data);
    proxy::token_info info;
    auto status = proxy::verify_token(secret, token, now / 1'000'000, &info);
    token_state = status == proxy::token_status::valid ? "valid"
                  : status == proxy::token_status::expired ? "expired"
                  : status == proxy::token_status::forged ? "forged"
                                                          : "malformed";
    token_problem = status == proxy::token_status::valid ? "" : std::string(proxy::describe(status));
    if (status == proxy::token_status::expired) token_problem += " at " + iso8601_seconds(info.expires_s * 1'000'000);
  }

  std::vector<proxy::compiled_rule> compiled;
  std::vector<std::pair<store::rule_record, std::string>> broken;
  for (auto& r : store::list_rules(db)) {
    auto hits = std::make_shared<proxy::rule_hits>();
    hits->count = r.hits;
    try {
      compiled.emplace_back(r, hits);
    } catch (const proxy::rule_error& e) {
      broken.emplace_back(r, e.what());
    }
  }
  proxy::rule_set set(std::move(compiled));
  proxy::request_view view{head.method, head.origin_target, &head.fields, t.peer};
  auto verdicts = set.explain(view, token_problem, now);
  const proxy::compiled_rule* fired = nullptr;
  for (const auto& e : verdicts)
    if (e.verdict == proxy::rule_verdict::fires) fired = e.rule;
  auto client = proxy::client_address(view);

  if (o.json) {
    static constexpr const char* names[] = {"fires", "disabled", "expired", "max_hits", "no_match", "no_token", "earlier_rule"};
    json::array rows;
    for (const auto& e : verdicts) {
      const auto& r = e.rule->record();
      rows.push_back(json::object{{"id", r.id},
                                  {"name", utf8_or_latin1(r.name)},
                                  {"action", r.action},
                                  {"fires", e.verdict == proxy::rule_verdict::fires},
                                  {"verdict", names[static_cast<int>(e.verdict)]},
                                  {"why", e.why.empty() ? json::value(nullptr) : json::value(utf8_or_latin1(e.why))}});
    }
    for (const auto& [r, why] : broken)
      rows.push_back(json::object{{"id", r.id}, {"name", utf8_or_latin1(r.name)}, {"action", r.action}, {"fires", false},
                                  {"verdict", "invalid"}, {"why", utf8_or_latin1(why)}});
    json::value fires = nullptr;
    if (fired) fires = json::object{{"id", fired->record().id}, {"name", utf8_or_latin1(fired->record().name)},
                                    {"action", fired->record().action}};
    json::object out{{"request", json::object{{"method", utf8_or_latin1(head.method)},
                                               {"target", utf8_or_latin1(head.origin_target)},
                                               {"client", client.empty() ? json::value(nullptr) : json::value(std::string(client))}}},
                     {"token", token_state},
                     {"fires", fires},
                     {"rules", rows}};
    std::printf("%s\n", to_json_text(out).c_str());
    return 0;
  }
  std::printf("request: %s %s (client %s, debug token: %s)\n", show(head.method).c_str(), show(head.origin_target).c_str(),
              client.empty() ? "unknown" : std::string(client).c_str(), token_state.c_str());
  if (fired)
    std::printf("fires: rule '%s' (id %lld): %s\n", show(fired->record().name).c_str(),
                static_cast<long long>(fired->record().id), show(action_text(fired->record())).c_str());
  else
    std::printf("fires: no rule\n");
  for (const auto& e : verdicts) {
    if (e.verdict == proxy::rule_verdict::fires) continue;
    std::printf("not '%s' (id %lld): %s\n", show(e.rule->record().name).c_str(), static_cast<long long>(e.rule->record().id),
                show(e.why).c_str());
  }
  for (const auto& [r, why] : broken)
    std::printf("not '%s' (id %lld): invalid: %s\n", show(r.name).c_str(), static_cast<long long>(r.id), show(why).c_str());
  return 0;
}

}  // namespace

void add_rules_command(CLI::App& app, rules_options& o) {
  auto* cmd = app.add_subcommand("rules", "Trigger rules: capture or debug the requests they match");
  cmd->require_subcommand(1);
  auto which = [&o](const char* name) { return [&o, name] { o.which = name; }; };

  auto* add = cmd->add_subcommand("add", "Add a rule; a running proxy applies it within a second");
  add_data_option(*add, o.data);
  add->add_option("--name", o.name, "Its name (default: ACTION-N)");
  add->add_option("--method", o.method, "Request method, e.g. POST");
  add->add_option("--path", o.path, "Path glob (/api/*), or re:REGEX searched in the path");
  add->add_option("--query", o.query, "Query parameter: name, or name=value (decoded)");
  add->add_option("--header", o.header, "Header field: name, name=value, or name=re:REGEX");
  add->add_option("--cookie", o.cookie, "Cookie: name, or name=value");
  add->add_option("--client", o.client, "Client address in CIDR form: 10.0.0.0/8, 2001:db8::/32, 192.0.2.7");
  add->add_option("--do", o.action, "capture, traceback, pdb, 'break FILE:LINE[:COND]' or post-mortem")->required();
  add->add_option("--max-hits", o.max_hits, "Fire at most this many times")->check(CLI::PositiveNumber);
  add->add_option("--ttl", o.ttl, "Expire after this long, e.g. 30m (debug actions: 1h unless given; capture: never)");
  add->add_flag("--json", o.json, "Print the rule added as JSON");
  add->callback(which("add"));
  add->footer(
      "Examples:\n"
      "  hindsight rules add --path '/api/orders/*' --do capture --max-hits 50\n"
      "  hindsight rules add --query pdb=1 --do pdb\n"
      "  hindsight rules add --path 're:^/orders/[0-9]+$' --do 'break shop/views.py:42:order_id == 7'");

  auto* ls = cmd->add_subcommand("list", "List the rules: state, match, action, hits, expiry");
  add_data_option(*ls, o.data);
  ls->add_flag("--json", o.json, "Print a JSON array (the fields are a stable interface)");
  ls->callback(which("list"));

  auto* rm = cmd->add_subcommand("rm", "Remove a rule");
  add_data_option(*rm, o.data);
  rm->add_option("rule", o.rule, "Its name or id")->required();
  rm->callback(which("rm"));

  auto* en = cmd->add_subcommand("enable", "Enable a rule");
  add_data_option(*en, o.data);
  en->add_option("rule", o.rule, "Its name or id")->required();
  en->callback(which("enable"));

  auto* dis = cmd->add_subcommand("disable", "Disable a rule (it stays in the store)");
  add_data_option(*dis, o.data);
  dis->add_option("rule", o.rule, "Its name or id")->required();
  dis->callback(which("disable"));

  auto* t = cmd->add_subcommand("test", "Say which rule would fire for a capture or a URL, and why the others would not");
  add_data_option(*t, o.data);
  t->add_option("request", o.subject, "A capture id, or a URL (http://host/path?query or /path?query)")->required();
  t->add_option("-H,--header", o.headers, "A header field of the request: 'Name: value' (repeatable)");
  t->add_option("-X,--request", o.test_method, "The request method")->capture_default_str();
  t->add_option("--client", o.test_client, "The client address (a URL's default: 127.0.0.1; a capture's: its own)");
  t->add_option("--token", o.token, "A debug token to check, as `hindsight token` prints it");
  t->add_flag("--json", o.json, "Print JSON");
  t->callback(which("test"));
}

int rules(const rules_options& o) {
  return run_command([&]() -> int {
    if (o.which == "add") return add(o);
    if (o.which == "list") return list(o);
    if (o.which == "rm") return remove(o);
    if (o.which == "enable") return enable(o, true);
    if (o.which == "disable") return enable(o, false);
    if (o.which == "test") return test(o);
    throw usage_error("give a rules subcommand: add, list, rm, enable, disable or test");
  });
}

}  // namespace hindsight::cli
