#include "proxy/http_head.hpp"

#include <gtest/gtest.h>

using namespace hindsight::proxy;

namespace {

parse_result parse(std::string_view bytes, request_head& out, head_limits limits = {}) {
  return parse_request_head(bytes, out, limits);
}

int refusal(std::string_view bytes) {
  request_head h;
  auto r = parse(bytes, h);
  return r.state == parse_state::failed ? r.error.status : 0;
}

}  // namespace

TEST(RequestHead, parses_a_simple_request) {
  request_head h;
  std::string_view bytes = "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nX-Thing:  v a l  \r\n\r\nrest";
  auto r = parse(bytes, h);
  ASSERT_EQ(r.state, parse_state::complete);
  EXPECT_EQ(r.head_size, bytes.size() - 4);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "/a?b=1");
  EXPECT_EQ(h.origin_target, "/a?b=1");
  EXPECT_EQ(h.version, 11);
  EXPECT_EQ(h.host, "example.com");
  ASSERT_EQ(h.fields.size(), 2u);
  EXPECT_EQ(h.fields[1].name, "X-Thing");
  EXPECT_EQ(h.fields[1].value, "v a l");
  EXPECT_EQ(h.framing, body_framing::none);
  EXPECT_TRUE(h.keep_alive);
}

TEST(RequestHead, waits_for_the_rest_of_a_head) {
  request_head h;
  std::string full = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
  for (std::size_t n = 0; n < full.size(); ++n) {
    EXPECT_EQ(parse(std::string_view(full).substr(0, n), h).state, parse_state::incomplete) << n;
  }
  auto r = parse(full, h);
  ASSERT_EQ(r.state, parse_state::complete);
  EXPECT_EQ(h.framing, body_framing::content_length);
  EXPECT_EQ(h.content_length, 3u);
}

TEST(RequestHead, incremental_search_finds_the_end_across_reads) {
  std::string full = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  request_head h;
  std::size_t searched = 0;
  for (std::size_t n = 1; n < full.size(); ++n)
    ASSERT_EQ(parse_request_head(std::string_view(full).substr(0, n), h, {}, &searched).state, parse_state::incomplete);
  EXPECT_EQ(parse_request_head(full, h, {}, &searched).state, parse_state::complete);
}

TEST(RequestHead, skips_empty_lines_before_the_request_line) {
  request_head h;
  auto r = parse("\r\n\r\nGET / HTTP/1.0\r\n\r\n", h);
  ASSERT_EQ(r.state, parse_state::complete);
  EXPECT_EQ(h.version, 10);
  EXPECT_FALSE(h.keep_alive);
  EXPECT_FALSE(h.has_host);
}

TEST(RequestHead, http10_keep_alive_needs_the_option) {
  request_head h;
  ASSERT_EQ(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", h).state, parse_state::complete);
  EXPECT_TRUE(h.keep_alive);
  ASSERT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", h).state, parse_state::complete);
  EXPECT_FALSE(h.keep_alive);
}

TEST(RequestHead, chunked_is_case_insensitive_and_final) {
  request_head h;
  ASSERT_EQ(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", h).state, parse_state::complete);
  EXPECT_EQ(h.framing, body_framing::chunked);
}

TEST(RequestHead, absolute_form_takes_its_authority_as_host) {
  request_head h;
  ASSERT_EQ(parse("GET http://Example.org:8080/p?q HTTP/1.1\r\nHost: other\r\n\r\n", h).state, parse_state::complete);
  EXPECT_EQ(h.host, "Example.org:8080");
  EXPECT_EQ(h.origin_target, "/p?q");
}

TEST(RequestHead, upgrade_needs_the_connection_option) {
  request_head h;
  ASSERT_EQ(parse("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n", h).state,
            parse_state::complete);
  EXPECT_TRUE(h.upgrade);
  EXPECT_EQ(h.upgrade_protocol, "websocket");
  ASSERT_EQ(parse("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", h).state, parse_state::complete);
  EXPECT_FALSE(h.upgrade);
}

TEST(RequestHead, expect_continue_only_with_a_body) {
  request_head h;
  ASSERT_EQ(parse("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-Continue\r\n\r\n", h).state,
            parse_state::complete);
  EXPECT_TRUE(h.expect_continue);
}

// Each refusal names the rule it enforces.
TEST(RequestHead, refuses_ambiguous_framing) {
  // RFC 9112 §6.1: Transfer-Encoding with Content-Length is a smuggling vector.
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  // RFC 9112 §6.3: several Content-Length fields, identical or not.
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n"), 400);
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n"), 400);
  for (auto v : {"+3", "-1", "0x10", "3 3", "", "99999999999999999999", "3.0"})
    EXPECT_EQ(refusal(std::string("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ") + v + "\r\n\r\n"), 400) << v;
  // RFC 9112 §6.1: Transfer-Encoding on HTTP/1.0.
  EXPECT_EQ(refusal("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  // RFC 9112 §6.3: chunked must be final; chunked twice; unknown codings are 501.
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 400);
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"), 400);
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 501);
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"), 400);
  EXPECT_EQ(refusal("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n"), 400);
}

TEST(RequestHead, refuses_malformed_field_lines) {
  // RFC 9112 §5.1: no whitespace between name and colon.
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400);
  // RFC 9112 §5.2: obs-fold.
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  2\r\n\r\n"), 400);
  // RFC 9112 §2.2: whitespace between the request line and the first field.
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), 400);
  // RFC 9110 §5.5: CR, NUL and other controls in a value; bare CR.
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"), 400);
  static constexpr char with_nul[] = "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n";
  EXPECT_EQ(refusal(std::string_view(with_nul, sizeof with_nul - 1)), 400);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n"), 400);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n"), 400);
  // RFC 9110 §5.1: a field name is a token.
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n"), 400);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: a\r\nFoo@: x\r\n\r\n"), 400);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: a\r\nno colon\r\n\r\n"), 400);
  // RFC 9112 §2.2: a bare LF is refused at once, before the head is complete.
  EXPECT_EQ(refusal("GET / HTTP/1.1\nHost: a\n"), 400);
}

// Field values are checked eight bytes at a time: every forbidden byte is found at every
// offset in and across those words, and the bytes a value may hold pass anywhere.
TEST(RequestHead, value_bytes_are_checked_at_every_offset) {
  const std::string value(40, 'v');
  for (char bad : {'\0', '\x01', '\x1f', '\x7f', '\r', '\n'}) {
    for (std::size_t at = 0; at < value.size(); ++at) {
      auto v = value;
      v[at] = bad;
      auto bytes = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + v + "\r\n\r\n";
      EXPECT_EQ(refusal(bytes), 400) << "byte " << int(bad) << " at " << at;
    }
  }
  // The same check guards responses and trailer sections.
  for (std::size_t at = 0; at < value.size(); ++at) {
    auto v = value;
    v[at] = '\x7f';
    response_head res;
    auto response = "HTTP/1.1 200 OK\r\nX-Long: " + v + "\r\nContent-Length: 0\r\n\r\n";
    auto r = parse_response_head(response, "GET", res, head_limits{});
    ASSERT_EQ(r.state, parse_state::failed) << "at " << at;
    EXPECT_EQ(r.error.status, 502);
    std::vector<field> trailers;
    head_error e;
    EXPECT_EQ(parse_field_block("X-Long: " + v + "\r\n\r\n", trailers, 10, e), static_cast<std::size_t>(-1));
  }
  for (char fine : {'\t', ' ', '\x80', '\xff', '~'}) {
    for (std::size_t at = 1; at + 1 < value.size(); ++at) {
      auto v = value;
      v[at] = fine;
      request_head h;
      auto bytes = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + v + "\r\nX-Next: n\r\n\r\n";
      ASSERT_EQ(parse(bytes, h).state, parse_state::complete) << "byte " << int(fine) << " at " << at;
      ASSERT_EQ(h.fields.size(), 3u);
      EXPECT_EQ(h.fields[1].value, v);
      EXPECT_EQ(h.fields[2].value, "n");
    }
  }
}

TEST(RequestHead, refuses_bad_request_lines) {
  EXPECT_EQ(refusal("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), 505);
  EXPECT_EQ(refusal("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505);
  for (auto line : {"GET / HTTP/1", "GET / http/1.1", "GET / HTTP/1.1x", "GET /", "GET  / HTTP/1.1", "G(T / HTTP/1.1",
                    "GET /a b HTTP/1.1", " GET / HTTP/1.1", "GET /\x01 HTTP/1.1", "GET /#frag HTTP/1.1",
                    "GET * HTTP/1.1", "GET ftp://a/ HTTP/1.1", "GET http://u@a/ HTTP/1.1"})
    EXPECT_EQ(refusal(std::string(line) + "\r\nHost: a\r\n\r\n"), 400) << line;
  EXPECT_EQ(refusal("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"), 405);
  EXPECT_EQ(refusal("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
}

TEST(RequestHead, refuses_host_problems) {
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\n\r\n"), 400);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n"), 400);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"), 0);
  // Every byte RFC 3986 allows in a reg-name passes; its neighbours in ASCII do not.
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: aZ09-._~!$&'()*+,;=%41:80\r\n\r\n"), 0);
  EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n"), 0);
  for (char bad : {'"', '#', '<', '>', '@', '[', '\\', '^', '`', '{', '|', '}', '\x80'}) {
    std::string host = "a";
    host += bad;
    EXPECT_EQ(refusal("GET / HTTP/1.1\r\nHost: " + host + "\r\n\r\n"), 400) << host;
  }
}

TEST(Fields, iequals_ignores_the_case_of_letters_only) {
  EXPECT_TRUE(iequals("Content-Length", "content-length"));
  EXPECT_TRUE(iequals("X-A_B~1", "x-a_b~1"));
  EXPECT_FALSE(iequals("content-length", "content-lengt"));
  EXPECT_FALSE(iequals("content-length", "content_length"));
  // Pairs that differ in the same bit as a letter's case but are not letters.
  EXPECT_FALSE(iequals("@", "`"));
  EXPECT_FALSE(iequals("[", "{"));
  EXPECT_FALSE(iequals("^", "~"));
  EXPECT_FALSE(iequals("\x80", "\xa0"));
}

TEST(RequestHead, enforces_size_limits) {
  head_limits limits;
  limits.max_request_line = 100;
  limits.max_head_size = 300;
  limits.max_fields = 3;
  request_head h;
  // 414 as soon as the line is too long, without waiting for its end.
  EXPECT_EQ(parse("GET /" + std::string(200, 'a'), h, limits).error.status, 414);
  std::string big = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(400, 'b');
  EXPECT_EQ(parse(big, h, limits).error.status, 431);
  EXPECT_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", h, limits).error.status, 431);
}

TEST(RequestHead, refuses_unmeetable_expectations) {
  EXPECT_EQ(refusal("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: teapot\r\n\r\n"), 417);
}

TEST(ResponseHead, frames_by_status_method_and_fields) {
  response_head r;
  head_limits limits;
  ASSERT_EQ(parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "GET", r, limits).state, parse_state::complete);
  EXPECT_EQ(r.framing, body_framing::content_length);
  EXPECT_TRUE(r.keep_alive);
  ASSERT_EQ(parse_response_head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "HEAD", r, limits).state, parse_state::complete);
  EXPECT_EQ(r.framing, body_framing::none);
  EXPECT_TRUE(r.has_content_length);
  ASSERT_EQ(parse_response_head("HTTP/1.1 204 No Content\r\n\r\n", "GET", r, limits).state, parse_state::complete);
  EXPECT_EQ(r.framing, body_framing::none);
  ASSERT_EQ(parse_response_head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "GET", r, limits).state, parse_state::complete);
  EXPECT_EQ(r.framing, body_framing::chunked);
  ASSERT_EQ(parse_response_head("HTTP/1.0 200 OK\r\n\r\n", "GET", r, limits).state, parse_state::complete);
  EXPECT_EQ(r.framing, body_framing::until_close);
  EXPECT_FALSE(r.keep_alive);
  ASSERT_EQ(parse_response_head("HTTP/1.1 200\r\nContent-Length: 1, 1\r\n\r\n", "GET", r, limits).state, parse_state::complete);
  EXPECT_EQ(r.content_length, 1u);
  EXPECT_EQ(r.reason, "");
}

TEST(ResponseHead, a_malformed_response_is_the_apps_fault) {
  response_head r;
  head_limits limits;
  for (auto bad : {"HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                   "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                   "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "ICY 200 OK\r\n\r\n",
                   "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n"}) {
    auto res = parse_response_head(bad, "GET", r, limits);
    EXPECT_EQ(res.state, parse_state::failed) << bad;
    EXPECT_EQ(res.error.status, 502) << bad;
  }
}

TEST(RequestHead, absolute_form_without_a_path_targets_the_root) {
  request_head h;
  ASSERT_EQ(parse("GET http://a:8080 HTTP/1.1\r\nHost: a\r\n\r\n", h).state, parse_state::complete);
  EXPECT_EQ(h.origin_target, "/");
  ASSERT_EQ(parse("GET http://a?x=1 HTTP/1.1\r\nHost: a\r\n\r\n", h).state, parse_state::complete);
  EXPECT_EQ(h.origin_target, "/?x=1");
}

TEST(RequestHead, refuses_a_stream_of_empty_lines) {
  request_head h;
  EXPECT_EQ(parse(std::string(16, '\r').replace(0, 16, "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n") + "GET / HTTP/1.0\r\n\r\n", h).state,
            parse_state::complete);
  auto r = parse(std::string(9 * 2, ' ').replace(0, 18, "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"), h);
  EXPECT_EQ(r.state, parse_state::failed);
  EXPECT_EQ(r.error.status, 400);
}
