#include "proxy/capture.hpp"

#include <gtest/gtest.h>

using namespace hindsight::proxy;

TEST(CaptureStatusRanges, ParsesListsRangesAndClasses) {
  auto r = parse_status_ranges("500-599,429, 5xx");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0], std::make_pair(500, 599));
  EXPECT_EQ(r[1], std::make_pair(429, 429));
  EXPECT_EQ(r[2], std::make_pair(500, 599));
  EXPECT_EQ(status_ranges_text(parse_status_ranges("4XX,502")), "400-499,502");
}

TEST(CaptureStatusRanges, RefusesWhatIsNotAStatus) {
  for (auto bad : {"", "abc", "5000", "99", "600", "599-500", "5xx-", ",", "6xx", "50x", "500,", "500,,502", "+500"})
    EXPECT_THROW(parse_status_ranges(bad), std::invalid_argument) << bad;
}

namespace {

exchange_outcome outcome(int status) {
  exchange_outcome o;
  o.status = status;
  o.client = "10.0.0.1";
  o.duration_ms = 12;
  o.upstream_ms = 10;
  o.started = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  return o;
}

constexpr std::string_view request =
    "POST /orders/7?x=1 HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-Proto: https\r\nX-Dup: a\r\nx-dup: b\r\n\r\n";
constexpr std::string_view response = "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\n";

}  // namespace

TEST(CaptureTee, KeepsAFailingExchangeWithItsExactParts) {
  capture_policy policy;
  capture_tee tee(policy);
  tee.begin(request);
  tee.request_body(std::string_view("a\0b", 3));
  tee.response_head(response, 500);
  tee.response_body("boom");
  auto c = tee.finish(outcome(500));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->captured_because, "status");
  EXPECT_EQ(c->method, "POST");
  EXPECT_EQ(c->target, "/orders/7?x=1");
  EXPECT_EQ(c->host, "shop.example");
  EXPECT_EQ(c->scheme, "https");
  EXPECT_EQ(c->request_headers, "Host: shop.example\r\nX-Forwarded-Proto: https\r\nX-Dup: a\r\nx-dup: b\r\n");
  EXPECT_EQ(c->request_body, std::string("a\0b", 3));
  EXPECT_FALSE(c->request_body_truncated);
  EXPECT_EQ(c->reason, "Internal Server Error");
  EXPECT_EQ(c->response_headers, "Content-Type: text/plain\r\n");
  EXPECT_EQ(c->response_body, "boom");
  EXPECT_EQ(c->time_us, 1'700'000'000'000'000);
}

TEST(CaptureTee, LetsSuccessGoAndResetsForTheNextExchange) {
  capture_policy policy;
  capture_tee tee(policy);
  tee.begin(request);
  tee.request_body("first");
  tee.response_head("HTTP/1.1 200 OK\r\n\r\n", 200);
  EXPECT_FALSE(tee.finish(outcome(200)));
  tee.begin(request);
  tee.response_head(response, 500);
  auto c = tee.finish(outcome(500));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->request_body, "");  // nothing left over from the exchange before
}

TEST(CaptureTee, BoundsBodiesAndFlagsTheCut) {
  capture_policy policy;
  policy.request_body_limit = 4;
  policy.response_body_limit = 3;
  capture_tee tee(policy);
  tee.begin(request);
  tee.request_body("abc");
  tee.request_body("defg");
  tee.response_head(response, 500);
  tee.response_body("0123456");
  auto c = tee.finish(outcome(500));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->request_body, "abcd");
  EXPECT_EQ(c->request_body_size, 7u);
  EXPECT_TRUE(c->request_body_truncated);
  EXPECT_EQ(c->response_body, "012");
  EXPECT_TRUE(c->response_body_truncated);
}

TEST(CaptureTee, TheProxysOwnAnswerIsWhatIsStored) {
  capture_policy policy;
  capture_tee tee(policy);
  tee.begin(request);
  auto o = outcome(502);
  o.proxy_answered = true;
  o.own_answer = "HTTP/1.1 502 Bad Gateway\r\nServer: hindsight\r\nContent-Length: 15\r\n\r\nhindsight: gone";
  o.upstream_error_kind = "unreachable";
  auto c = tee.finish(o);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->captured_because, "error");
  EXPECT_EQ(c->reason, "Bad Gateway");
  EXPECT_EQ(c->response_headers, "Server: hindsight\r\nContent-Length: 15\r\n");
  EXPECT_EQ(c->response_body, "hindsight: gone");
  EXPECT_EQ(c->upstream_error_kind, "unreachable");
}

TEST(CaptureTee, AnAppFailureIsKeptWhateverTheStatusPolicy) {
  capture_policy policy;
  policy.statuses = {{429, 429}};
  capture_tee tee(policy);
  tee.begin(request);
  tee.response_head("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 200);
  tee.response_body("01234");  // a 200 is not wanted by status: only the start is copied
  tee.response_body(std::string(5000, 'x'));
  auto o = outcome(200);
  o.upstream_error_kind = "closed";
  auto c = tee.finish(o);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->response_body.size(), 4096u);
  EXPECT_TRUE(c->response_body.starts_with("01234x"));
  EXPECT_EQ(c->response_body_size, 5005u);
  EXPECT_TRUE(c->response_body_truncated);
}

TEST(CaptureTee, SlowAndSampledExchanges) {
  capture_policy policy;
  policy.slow = std::chrono::milliseconds(100);
  capture_tee tee(policy);
  tee.begin(request);
  tee.response_head("HTTP/1.1 200 OK\r\n\r\n", 200);
  auto o = outcome(200);
  o.duration_ms = 150;
  auto c = tee.finish(o);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->captured_because, "slow");

  capture_policy all;
  all.sample = 1.0;
  capture_tee sampled(all);
  sampled.begin(request);
  sampled.response_head("HTTP/1.1 200 OK\r\n\r\n", 200);
  auto s = sampled.finish(outcome(200));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->captured_because, "sample");
}

TEST(CaptureTee, NothingWhenOffOrWhenTheClientLeft) {
  capture_policy off;
  off.enabled = false;
  capture_tee tee(off);
  tee.begin(request);
  EXPECT_FALSE(tee.finish(outcome(500)));
  capture_policy on;
  capture_tee left(on);
  left.begin(request);
  EXPECT_FALSE(left.finish(outcome(0)));
}

TEST(CaptureTee, ACaptureRuleKeepsASuccessWithItsWholeBody) {
  capture_policy policy;
  capture_tee tee(policy);
  const std::string body(10'000, 'b');  // beyond the 4 KiB kept of a success's body by default
  tee.begin(request);
  tee.keep_for_rule();
  tee.response_head("HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n", 200);
  tee.response_body(body);
  auto c = tee.finish(outcome(200));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->captured_because, "rule");
  EXPECT_EQ(c->response_body, body);
  EXPECT_FALSE(c->response_body_truncated);
  // The next exchange on the connection is not kept for the rule's sake.
  tee.begin(request);
  tee.response_head("HTTP/1.1 200 OK\r\n\r\n", 200);
  EXPECT_FALSE(tee.finish(outcome(200)));
}
