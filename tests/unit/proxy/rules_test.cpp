#include "proxy/rules.hpp"

#include <gtest/gtest.h>

#include <thread>

using namespace hindsight::proxy;
using hindsight::store::rule_record;

namespace {

rule_record rule(std::string name, std::string action = "capture") {
  rule_record r;
  r.name = std::move(name);
  r.action = std::move(action);
  return r;
}

rule_record with(rule_record r, std::string rule_record::*field, std::string value) {
  r.*field = std::move(value);
  return r;
}

struct request {
  std::string raw;
  request_head head;
  std::string peer = "192.0.2.10";
  explicit request(std::string text) : raw(std::move(text)) {
    auto r = parse_request_head(raw, head, head_limits{});
    EXPECT_EQ(r.state, parse_state::complete) << r.error.reason;
  }
  request_view view() const { return {head.method, head.origin_target, &head.fields, peer}; }
};

request get(std::string target, std::string fields = "") {
  return request("GET " + target + " HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n");
}

const char* mismatch(rule_record r, const request& req) { return compiled_rule(std::move(r)).mismatch(req.view()); }

std::string error_of(rule_record r) {
  try {
    compiled_rule c(std::move(r));
  } catch (const rule_error& e) {
    return e.what();
  }
  return "<compiled>";
}

}  // namespace

TEST(Rules, method_matches_any_case) {
  auto r = with(rule("m"), &rule_record::method, "post");
  EXPECT_EQ(mismatch(r, request("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")), nullptr);
  EXPECT_STREQ(mismatch(r, get("/")), "--method");
}

TEST(Rules, path_glob) {
  auto r = with(rule("p"), &rule_record::path, "/ok/*");
  EXPECT_EQ(mismatch(r, get("/ok/1")), nullptr);
  EXPECT_EQ(mismatch(r, get("/ok/a/b?x=1")), nullptr);  // '*' crosses '/', the query is not the path
  EXPECT_STREQ(mismatch(r, get("/okay")), "--path");
  EXPECT_STREQ(mismatch(r, get("/x/ok/1")), "--path");
  EXPECT_EQ(mismatch(with(rule("p"), &rule_record::path, "/orders/[0-9]?"), get("/orders/42")), nullptr);
  EXPECT_STREQ(mismatch(with(rule("p"), &rule_record::path, "/orders/[!0-9]*"), get("/orders/42")), "--path");
  EXPECT_EQ(mismatch(with(rule("p"), &rule_record::path, "*"), get("/anything")), nullptr);
  // The absolute form is matched on its path.
  EXPECT_EQ(mismatch(r, get("http://a/ok/1")), nullptr);
}

TEST(Rules, path_regex_is_searched) {
  auto r = with(rule("p"), &rule_record::path, "re:^/orders/[0-9]+$");
  EXPECT_EQ(mismatch(r, get("/orders/12")), nullptr);
  EXPECT_STREQ(mismatch(r, get("/orders/12/items")), "--path");
  EXPECT_EQ(mismatch(with(rule("p"), &rule_record::path, "re:items"), get("/orders/12/items")), nullptr);
}

TEST(Rules, query_parameter_by_name_or_value_decoded) {
  auto named = with(rule("q"), &rule_record::query, "pdb");
  auto valued = with(rule("q"), &rule_record::query, "pdb=1");
  EXPECT_EQ(mismatch(named, get("/?a=2&pdb")), nullptr);
  EXPECT_EQ(mismatch(named, get("/?pdb=0")), nullptr);
  EXPECT_STREQ(mismatch(named, get("/?pdbx=1")), "--query");
  EXPECT_STREQ(mismatch(named, get("/pdb")), "--query");
  EXPECT_EQ(mismatch(valued, get("/?x=1&pdb=1")), nullptr);
  EXPECT_STREQ(mismatch(valued, get("/?pdb=10")), "--query");
  EXPECT_EQ(mismatch(with(rule("q"), &rule_record::query, "q=a b/c"), get("/?q=a+b%2Fc")), nullptr);
  EXPECT_EQ(mismatch(with(rule("q"), &rule_record::query, "a b=1"), get("/?a%20b=1")), nullptr);
}

TEST(Rules, a_regex_the_engine_gives_up_on_is_no_match_not_an_exception) {
  auto r = with(rule("h"), &rule_record::header, "X-B=re:a.*b.*c");
  EXPECT_STREQ(mismatch(r, get("/", "X-B: " + std::string(20000, 'a') + "\r\n")), "--header");
  auto slow = with(rule("p"), &rule_record::path, "re:^(a|aa)+$");
  EXPECT_STREQ(mismatch(slow, get("/" + std::string(5000, 'a') + "b")), "--path");
  EXPECT_EQ(mismatch(r, get("/", "X-B: a-b-c\r\n")), nullptr);
}

TEST(Rules, header_by_name_value_or_regex) {
  auto r = with(rule("h"), &rule_record::header, "X-Debug=1");
  EXPECT_EQ(mismatch(r, get("/", "x-debug: 1\r\n")), nullptr);
  EXPECT_STREQ(mismatch(r, get("/", "X-Debug: 12\r\n")), "--header");
  EXPECT_STREQ(mismatch(r, get("/")), "--header");
  EXPECT_EQ(mismatch(with(rule("h"), &rule_record::header, "X-Debug"), get("/", "X-Debug: anything\r\n")), nullptr);
  auto re = with(rule("h"), &rule_record::header, "User-Agent=re:^curl/");
  EXPECT_EQ(mismatch(re, get("/", "User-Agent: curl/8.1\r\n")), nullptr);
  EXPECT_STREQ(mismatch(re, get("/", "User-Agent: Mozilla curl/8.1\r\n")), "--header");
  // Any of several fields of that name.
  EXPECT_EQ(mismatch(r, get("/", "X-Debug: 0\r\nX-Debug: 1\r\n")), nullptr);
  // curl's "Name: value" spelling is taken too.
  EXPECT_EQ(mismatch(with(rule("h"), &rule_record::header, "X-Debug: 1"), get("/", "X-Debug: 1\r\n")), nullptr);
}

TEST(Rules, cookie_by_name_or_value) {
  auto named = with(rule("c"), &rule_record::cookie, "session");
  auto valued = with(rule("c"), &rule_record::cookie, "debug=yes");
  EXPECT_EQ(mismatch(named, get("/", "Cookie: a=1; session=xyz\r\n")), nullptr);
  EXPECT_STREQ(mismatch(named, get("/", "Cookie: sessionx=1\r\n")), "--cookie");
  EXPECT_EQ(mismatch(valued, get("/", "Cookie: a=1\r\nCookie: debug=\"yes\"\r\n")), nullptr);
  EXPECT_STREQ(mismatch(valued, get("/", "Cookie: debug=no\r\n")), "--cookie");
  EXPECT_STREQ(mismatch(valued, get("/")), "--cookie");
}

TEST(Rules, client_cidr_v4_and_v6) {
  auto v4 = with(rule("c"), &rule_record::client, "192.0.2.0/24");
  auto req = get("/");
  EXPECT_EQ(mismatch(v4, req), nullptr);
  req.peer = "192.0.3.1";
  EXPECT_STREQ(mismatch(v4, req), "--client");
  auto host = with(rule("c"), &rule_record::client, "192.0.3.1");
  EXPECT_EQ(mismatch(host, req), nullptr);
  auto v6 = with(rule("c"), &rule_record::client, "2001:db8::/32");
  req.peer = "2001:db8:1::5";
  EXPECT_EQ(mismatch(v6, req), nullptr);
  req.peer = "2001:db9::5";
  EXPECT_STREQ(mismatch(v6, req), "--client");
  EXPECT_STREQ(mismatch(v4, req), "--client");  // a v6 client never matches a v4 network
  auto odd = with(rule("c"), &rule_record::client, "10.0.0.0/9");
  req.peer = "10.127.255.255";
  EXPECT_EQ(mismatch(odd, req), nullptr);
  req.peer = "10.128.0.0";
  EXPECT_STREQ(mismatch(odd, req), "--client");
  auto all = with(rule("c"), &rule_record::client, "0.0.0.0/0");
  req.peer = "203.0.113.9";
  EXPECT_EQ(mismatch(all, req), nullptr);
}

TEST(Rules, unix_socket_client_is_the_routers_last_forwarded_for) {
  auto r = with(rule("c"), &rule_record::client, "198.51.100.0/24");
  auto req = get("/", "X-Forwarded-For: 10.0.0.1, 198.51.100.7\r\n");
  req.peer = "";  // the router, over $SOCKET
  EXPECT_EQ(client_address(req.view()), "198.51.100.7");
  EXPECT_EQ(mismatch(r, req), nullptr);
  auto spoofed = get("/", "X-Forwarded-For: 198.51.100.7\r\n");  // a TCP client's own claim is not trusted
  EXPECT_STREQ(mismatch(r, spoofed), "--client");
  auto none = get("/");
  none.peer = "";
  EXPECT_STREQ(mismatch(r, none), "--client");
}

TEST(Rules, all_fields_must_match) {
  auto r = rule("all");
  r.method = "GET";
  r.path = "/ok/*";
  r.query = "pdb=1";
  auto req = get("/ok/1?pdb=1");
  EXPECT_EQ(mismatch(r, req), nullptr);
  EXPECT_STREQ(mismatch(r, get("/ok/1")), "--query");
}

TEST(Rules, malformed_rules_say_where) {
  // Counted within the expression, as the regex engine does: it gives up at its end.
  EXPECT_EQ(error_of(with(rule("p"), &rule_record::path, "re:a(b")),
            "--path 're:a(b': regex error at position 3: Unmatched marking parenthesis ( or \\(.");
  try {
    compiled_rule c(with(rule("p"), &rule_record::path, "re:a(b"));
  } catch (const rule_error& e) {
    EXPECT_EQ(e.position, 6u);  // the caret, under the whole value
  }
  EXPECT_NE(error_of(with(rule("p"), &rule_record::path, "re:")).find("empty regular expression"), std::string::npos);
  EXPECT_NE(error_of(with(rule("h"), &rule_record::header, "X-A=re:[z-a]")).find("regex error at position"),
            std::string::npos);
  EXPECT_NE(error_of(with(rule("p"), &rule_record::path, "/a/[bc")).find("(at position 3)"), std::string::npos);
  EXPECT_NE(error_of(with(rule("c"), &rule_record::client, "10.0.0.0/33")).find("(at position 9)"), std::string::npos);
  EXPECT_NE(error_of(with(rule("c"), &rule_record::client, "10.0.0.300")).find("not an IPv4 or IPv6 address"),
            std::string::npos);
  EXPECT_NE(error_of(with(rule("c"), &rule_record::client, "10.0.0.1/8")).find("bits set beyond"), std::string::npos);
  EXPECT_NE(error_of(with(rule("h"), &rule_record::header, "X A=1")).find("(at position 1)"), std::string::npos);
  EXPECT_NE(error_of(rule("nothing")).find("at least one of"), std::string::npos);
}

TEST(Rules, actions_parse_and_refuse) {
  EXPECT_EQ(parse_action("pdb").first, rule_action::pdb);
  EXPECT_EQ(parse_action("post-mortem").first, rule_action::post_mortem);
  auto [a, arg] = parse_action("break shop/views.py:42:order_id == 7");
  EXPECT_EQ(a, rule_action::break_at);
  EXPECT_EQ(arg, "shop/views.py:42:order_id == 7");
  EXPECT_THROW(parse_action("explode"), rule_error);
  EXPECT_THROW(parse_action("break"), rule_error);
  EXPECT_THROW(parse_action("break views.py"), rule_error);
  EXPECT_THROW(parse_action("pdb now"), rule_error);
  try {
    parse_action("break views.py:x");
  } catch (const rule_error& e) {
    EXPECT_EQ(e.position, 15u);
  }
  EXPECT_TRUE(is_debug(rule_action::traceback));
  EXPECT_FALSE(is_debug(rule_action::capture));
}

TEST(RuleSet, first_rule_fires_debug_rules_need_a_token) {
  auto pdb = with(rule("pdb", "pdb"), &rule_record::query, "pdb=1");
  pdb.id = 1;
  auto cap = with(rule("cap"), &rule_record::path, "/*");
  cap.id = 2;
  std::vector<compiled_rule> rules;
  rules.emplace_back(pdb);
  rules.emplace_back(cap);
  rule_set set(std::move(rules));
  auto req = get("/x?pdb=1");
  EXPECT_EQ(set.fire(req.view(), true, 0)->record().name, "pdb");
  EXPECT_EQ(set.fire(req.view(), false, 0)->record().name, "cap");  // without a token the debug rule is skipped
  auto why = set.explain(req.view(), "none given", 0);
  ASSERT_EQ(why.size(), 2u);
  EXPECT_EQ(why[0].verdict, rule_verdict::no_token);
  EXPECT_EQ(why[0].why, "no valid debug token: none given");
  EXPECT_EQ(why[1].verdict, rule_verdict::fires);
  why = set.explain(req.view(), "", 0);
  EXPECT_EQ(why[0].verdict, rule_verdict::fires);
  EXPECT_EQ(why[1].verdict, rule_verdict::earlier_rule);
  why = set.explain(get("/x").view(), "", 0);
  EXPECT_EQ(why[0].why, "--query 'pdb=1' does not match");
}

TEST(RuleSet, disabled_expired_and_exhausted_rules_do_not_fire) {
  auto off = with(rule("off"), &rule_record::path, "/*");
  off.enabled = false;
  auto old = with(rule("old"), &rule_record::path, "/*");
  old.expires_us = 1000;
  auto twice = with(rule("twice"), &rule_record::path, "/*");
  twice.max_hits = 2;
  std::vector<compiled_rule> rules;
  rules.emplace_back(off);
  rules.emplace_back(old);
  rules.emplace_back(twice);
  rule_set set(std::move(rules));
  auto req = get("/");
  EXPECT_EQ(set.fire(req.view(), false, 999)->record().name, "old");
  EXPECT_EQ(set.fire(req.view(), false, 1000)->record().name, "twice");
  EXPECT_EQ(set.fire(req.view(), false, 1000)->record().name, "twice");
  EXPECT_EQ(set.fire(req.view(), false, 1000), nullptr);
  auto why = set.explain(req.view(), "", 1000);
  EXPECT_EQ(why[0].verdict, rule_verdict::disabled);
  EXPECT_EQ(why[1].verdict, rule_verdict::expired);
  EXPECT_EQ(why[2].verdict, rule_verdict::max_hits);
  EXPECT_EQ(set.rules()[2].hits().count.load(), 2u);
}

TEST(RuleSet, max_hits_is_exact_across_threads) {
  auto r = with(rule("n"), &rule_record::path, "/*");
  r.max_hits = 1000;
  std::vector<compiled_rule> rules;
  rules.emplace_back(r);
  rule_set set(std::move(rules));
  auto req = get("/");
  std::atomic<int> fired{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 600; ++i)
        if (set.fire(req.view(), false, 0)) ++fired;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(fired.load(), 1000);
}

TEST(RuleTable, empty_until_published) {
  rule_table table;
  EXPECT_EQ(table.current(), nullptr);
  std::vector<compiled_rule> rules;
  rules.emplace_back(with(rule("p"), &rule_record::path, "/*"));
  table.publish(std::make_shared<const rule_set>(std::move(rules)));
  ASSERT_NE(table.current(), nullptr);
  table.publish(std::make_shared<const rule_set>(std::vector<compiled_rule>{}));
  EXPECT_EQ(table.current(), nullptr);
}
