#include "proxy/forwarding.hpp"

#include <gtest/gtest.h>

using namespace hindsight::proxy;

namespace {

request_head parsed(std::string_view bytes) {
  request_head h;
  auto r = parse_request_head(bytes, h, {});
  EXPECT_EQ(r.state, parse_state::complete) << r.error.reason;
  return h;
}

response_head parsed_response(std::string_view bytes, std::string_view method = "GET") {
  response_head h;
  auto r = parse_response_head(bytes, method, h, {});
  EXPECT_EQ(r.state, parse_state::complete) << r.error.reason;
  return h;
}

}  // namespace

TEST(Forwarding, removes_hop_by_hop_fields_and_writes_its_own_framing) {
  auto req = parsed(
      "POST /p HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Private\r\nX-Private: 1\r\nKeep-Alive: 5\r\n"
      "TE: trailers\r\nProxy-Connection: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\nX-Kept: 2\r\n\r\n");
  std::string out;
  write_upstream_request_head(req, "203.0.113.9", out);
  EXPECT_EQ(out,
            "POST /p HTTP/1.1\r\nHost: a\r\nX-Kept: 2\r\nX-Forwarded-For: 203.0.113.9\r\n"
            "Transfer-Encoding: chunked\r\n\r\n");
}

TEST(Forwarding, appends_to_x_forwarded_for_and_keeps_proto_and_host) {
  auto req = parsed(
      "GET / HTTP/1.0\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-For: 2.2.2.2\r\n"
      "X-Forwarded-Host: shop.example\r\n\r\n");
  std::string out;
  write_upstream_request_head(req, "10.0.0.1", out);
  EXPECT_EQ(out,
            "GET / HTTP/1.1\r\nHost: \r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: shop.example\r\n"
            "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 10.0.0.1\r\n\r\n");
  out.clear();
  write_upstream_request_head(req, "", out);  // a unix-socket client adds nothing
  EXPECT_NE(out.find("X-Forwarded-For: 1.1.1.1, 2.2.2.2\r\n"), std::string::npos);
}

TEST(Forwarding, keeps_an_explicit_zero_length_and_the_upgrade) {
  std::string out;
  write_upstream_request_head(parsed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), "", out);
  EXPECT_NE(out.find("Content-Length: 0\r\n"), std::string::npos);
  out.clear();
  write_upstream_request_head(parsed("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"), "", out);
  EXPECT_EQ(out, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
}

TEST(Forwarding, sends_absolute_form_upstream_in_origin_form) {
  std::string out;
  write_upstream_request_head(parsed("GET http://b:81/x?y HTTP/1.1\r\nHost: a\r\n\r\n"), "", out);
  EXPECT_EQ(out, "GET /x?y HTTP/1.1\r\nHost: b:81\r\n\r\n");
}

TEST(Forwarding, chunks_an_unknown_length_for_11_and_closes_for_10) {
  auto res = parsed_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n");
  std::string out;
  auto plan = write_client_response_head(res, parsed("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), false, out);
  EXPECT_EQ(plan.framing, client_framing::chunked);
  EXPECT_FALSE(plan.close);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n");
  out.clear();
  plan = write_client_response_head(res, parsed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), false, out);
  EXPECT_EQ(plan.framing, client_framing::until_close);
  EXPECT_TRUE(plan.close);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nX-A: 1\r\nConnection: close\r\n\r\n");
}

TEST(Forwarding, keeps_http10_alive_with_a_length) {
  auto res = parsed_response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n");
  std::string out;
  auto plan = write_client_response_head(res, parsed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), false, out);
  EXPECT_FALSE(plan.close);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n");
}

TEST(Forwarding, head_and_304_keep_their_length_and_204_has_none) {
  std::string out;
  write_client_response_head(parsed_response("HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n", "HEAD"),
                             parsed("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"), false, out);
  EXPECT_EQ(out, "HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n");
  out.clear();
  write_client_response_head(parsed_response("HTTP/1.1 204 No Content\r\n\r\n"), parsed("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
                             true, out);
  EXPECT_EQ(out, "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
}

TEST(Forwarding, own_responses_say_why_and_close) {
  auto r = own_response(502, "the app is unreachable");
  EXPECT_TRUE(r.starts_with("HTTP/1.1 502 Bad Gateway\r\n"));
  EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos);
  EXPECT_NE(r.find("Content-Length: 34\r\n"), std::string::npos);
  EXPECT_TRUE(r.ends_with("\r\n\r\nhindsight: the app is unreachable\n"));
}
