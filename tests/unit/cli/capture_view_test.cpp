#include "cli/capture_view.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "cli/json_output.hpp"
#include "store/redaction.hpp"

using namespace hindsight;
using namespace hindsight::cli;
using namespace std::string_literals;

namespace {

store::stored_capture sample() {
  store::stored_capture c;
  c.id = 42;
  c.time_us = 1'795'701'723'123'456;  // 2026-11-26T14:02:03.123456Z
  c.client = "203.0.113.9";
  c.scheme = "https";
  c.host = "shop.example.com";
  c.method = "POST";
  c.target = "/checkout?step=2";
  c.request_headers =
      "Host: shop.example.com\r\n"
      "authorization: Bearer s3cr3t\r\n"
      "X-Note: caf\xe9\r\n"
      "Transfer-Encoding: chunked\r\n"
      "X-Dup: one\r\n"
      "X-Dup: two\r\n";
  c.request_body = "{\"password\": \"[redacted]\"}";
  c.request_body_size = c.request_body.size();
  c.status = 500;
  c.reason = "Internal Server Error";
  c.response_headers = "Content-Type: text/plain\r\nSet-Cookie: session=abc\r\n";
  c.response_body = "boom\n";
  c.response_body_size = 5;
  c.duration_ms = 12.3456789;
  c.upstream_ms = 11.0;
  c.captured_because = "status";
  c.group_id = 7;
  c.redacted = {"json:password"};
  return c;
}

}  // namespace

TEST(CaptureView, splits_header_fields_keeping_order_case_and_duplicates) {
  auto fields = split_header_fields("Host: a\r\nX-Dup:  one \r\nx-dup: two\r\nBare\n");
  ASSERT_EQ(fields.size(), 4u);
  EXPECT_EQ(fields[0].name, "Host");
  EXPECT_EQ(fields[1].value, "one");
  EXPECT_EQ(fields[1].line, "X-Dup:  one ");
  EXPECT_EQ(fields[2].name, "x-dup");
  EXPECT_EQ(fields[3].name, "Bare");
  EXPECT_EQ(fields[3].value, "");
}

TEST(CaptureView, raw_request_replaces_framing_with_one_content_length_in_place) {
  auto c = sample();
  EXPECT_EQ(rebuild_request(c),
            "POST /checkout?step=2 HTTP/1.1\r\n"
            "Host: shop.example.com\r\n"
            "authorization: Bearer s3cr3t\r\n"
            "X-Note: caf\xe9\r\n"
            "Content-Length: 26\r\n"
            "X-Dup: one\r\n"
            "X-Dup: two\r\n"
            "\r\n"
            "{\"password\": \"[redacted]\"}");
}

TEST(CaptureView, raw_request_keeps_a_zero_length_when_the_request_was_framed) {
  store::capture c;
  c.method = "PUT";
  c.target = "/x";
  c.version = 10;
  c.request_headers = "Content-Length: 0\r\nHost: h\r\n";
  EXPECT_EQ(rebuild_request(c), "PUT /x HTTP/1.0\r\nContent-Length: 0\r\nHost: h\r\n\r\n");
  c.request_headers = "Host: h\r\n";
  EXPECT_EQ(rebuild_request(c), "PUT /x HTTP/1.0\r\nHost: h\r\n\r\n");
}

TEST(CaptureView, raw_request_adds_a_length_for_a_body_without_framing_and_is_binary_safe) {
  store::capture c;
  c.method = "POST";
  c.target = "/up";
  c.request_headers = "Host: h\r\ncontent-length: 999\r\nCONTENT-LENGTH: 999\r\n";
  c.request_body = std::string("\0\xff\r\n", 4);
  c.request_body_truncated = true;
  EXPECT_EQ(rebuild_request(c), "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n\0\xff\r\n"s);
  c.request_headers = "Host: h\r\n";
  EXPECT_EQ(rebuild_request(c), "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n\0\xff\r\n"s);
}

TEST(CaptureView, masks_credential_headers_unless_revealed) {
  auto c = sample();
  auto masked = display_headers(c.request_headers, false);
  ASSERT_EQ(masked.size(), 6u);
  EXPECT_EQ(masked[1].first, "authorization");
  EXPECT_EQ(masked[1].second, store::mask_marker);
  EXPECT_EQ(masked[2].second, "caf\xc3\xa9");  // latin-1 decoded
  auto revealed = display_headers(c.request_headers, true);
  EXPECT_EQ(revealed[1].second, "Bearer s3cr3t");
  EXPECT_EQ(display_headers(c.response_headers, false)[1].second, store::mask_marker);
}

TEST(CaptureView, show_json_has_the_interface_fields) {
  auto c = sample();
  auto j = boost::json::parse(to_json_text(capture_to_json(c, false))).as_object();
  EXPECT_EQ(j.at("id").as_int64(), 42);
  EXPECT_EQ(j.at("time").as_string(), "2026-11-26T14:02:03.123Z");
  auto& req = j.at("request").as_object();
  EXPECT_EQ(req.at("method").as_string(), "POST");
  EXPECT_EQ(req.at("target").as_string(), "/checkout?step=2");
  EXPECT_EQ(req.at("version").as_string(), "HTTP/1.1");
  EXPECT_EQ(req.at("headers").as_array().at(1), (boost::json::array{"authorization", "[masked]"}));
  EXPECT_EQ(req.at("headers").as_array().at(2), (boost::json::array{"X-Note", "caf\xc3\xa9"}));
  EXPECT_EQ(req.at("body_base64").as_string(), "eyJwYXNzd29yZCI6ICJbcmVkYWN0ZWRdIn0=");
  EXPECT_EQ(req.at("body_truncated").as_bool(), false);
  EXPECT_EQ(req.at("body_size").to_number<int>(), 26);
  auto& resp = j.at("response").as_object();
  EXPECT_EQ(resp.at("status").as_int64(), 500);
  EXPECT_EQ(resp.at("reason").as_string(), "Internal Server Error");
  EXPECT_EQ(resp.at("body_base64").as_string(), "Ym9vbQo=");
  EXPECT_TRUE(j.at("upstream_error").is_null());
  EXPECT_TRUE(j.at("upstream_error_kind").is_null());
  EXPECT_EQ(j.at("duration_ms").as_double(), 12.346);
  EXPECT_EQ(j.at("upstream_ms").to_number<double>(), 11.0);
  EXPECT_EQ(j.at("group").as_int64(), 7);
  EXPECT_EQ(j.at("redacted"), (boost::json::array{"json:password"}));
  EXPECT_EQ(j.at("replayable").as_bool(), true);
  for (auto key : {"client", "scheme", "host", "captured_because", "app_restarted"}) EXPECT_TRUE(j.contains(key)) << key;

  auto revealed = capture_to_json(c, true);
  EXPECT_EQ(revealed.at("request").at("headers").as_array().at(1), (boost::json::array{"authorization", "Bearer s3cr3t"}));
}

TEST(CaptureView, show_json_for_an_app_that_never_answered) {
  auto c = sample();
  c.status = 504;
  c.upstream_ms = -1;
  c.upstream_error_kind = "timeout";
  c.upstream_error = "the app did not answer within 120 s";
  c.response_headers.clear();
  auto j = capture_to_json(c, false);
  EXPECT_EQ(j.at("upstream_error").as_string(), "the app did not answer within 120 s");
  EXPECT_EQ(j.at("upstream_error_kind").as_string(), "timeout");
  EXPECT_TRUE(j.at("upstream_ms").is_null());
  EXPECT_TRUE(j.at("response").at("headers").as_array().empty());
}

TEST(CaptureView, list_json_has_the_interface_fields) {
  store::capture_summary s;
  s.id = 3;
  s.time_us = 1'795'701'723'000'000;
  s.status = 502;
  s.method = "GET";
  s.target = "/a?b=c";
  s.path = "/a";
  s.duration_ms = 2.5;
  s.group_id = 1;
  s.replayable = false;
  s.upstream_error_kind = "reset";
  EXPECT_EQ(to_json_text(summary_to_json(s)),
            "{\"id\":3,\"time\":\"2026-11-26T14:02:03.000Z\",\"status\":502,\"method\":\"GET\",\"target\":\"/a?b=c\","
            "\"path\":\"/a\",\"duration_ms\":2.5,\"group\":1,\"replayable\":false,\"upstream_error_kind\":\"reset\"}");
}

TEST(CaptureView, capture_table_aligns_and_shortens_paths) {
  store::capture_summary a;
  a.id = 12;
  a.time_us = 1'795'701'723'000'000;
  a.status = 500;
  a.method = "POST";
  a.path = "/checkout";
  a.duration_ms = 1234;
  a.group_id = 7;
  store::capture_summary b = a;
  b.id = 9;
  b.status = 502;
  b.upstream_error_kind = "timeout";
  b.method = "GET";
  b.path = "/api/v1/customers/1234567890/orders/9876543210/items/with/a/very/long/tail";
  b.duration_ms = 4.25;
  b.replayable = false;
  EXPECT_EQ(capture_table({a, b}),
            "ID  TIME (UTC)            STATUS       METHOD  PATH                                              DURATION  GROUP  REPLAY\n"
            "12  2026-11-26T14:02:03Z  500          POST    /checkout                                           1.23 s      7  yes\n"
            " 9  2026-11-26T14:02:03Z  502 timeout  GET     /api/v1/customers/123456…s/with/a/very/long/tail    4.2 ms      7  no\n");
}

TEST(CaptureView, group_table) {
  store::group_summary g;
  g.id = 7;
  g.method = "GET";
  g.route = "/orders/{int}";
  g.status = 500;
  g.count = 12;
  g.first_seen_us = 1'795'701'723'000'000;
  g.last_seen_us = 1'795'701'783'000'000;
  EXPECT_EQ(group_table({g}),
            "GROUP  COUNT  FIRST SEEN (UTC)      LAST SEEN (UTC)       METHOD  ROUTE          STATUS\n"
            "    7     12  2026-11-26T14:02:03Z  2026-11-26T14:03:03Z  GET     /orders/{int}  500\n");
  auto j = group_to_json(g);
  for (auto key : {"id", "fingerprint", "method", "route", "status", "upstream_error_kind", "count", "first_seen", "last_seen"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j.at("last_seen").as_string(), "2026-11-26T14:03:03.000Z");
}

TEST(CaptureView, text_body_is_shown_up_to_the_limit) {
  EXPECT_EQ(body_text("hello\r\nworld", 12, false, 100, "--opt", "hint"), "hello\nworld\n");
  EXPECT_EQ(body_text("abcdefghij", 10, false, 4, "--opt", "the rest: --json"),
            "abcd\n… 6 more bytes (--body-limit 0 shows them; the rest: --json)\n");
  EXPECT_EQ(body_text("abcdefghij", 10, false, 0, "--opt", "hint"), "abcdefghij\n");
  EXPECT_EQ(body_text("", 0, false, 10, "--opt", "hint"), "");
  EXPECT_EQ(body_text("", 5, true, 10, "--capture-request-body", "hint"),
            "(a body of 5 bytes, none of it captured: --capture-request-body)\n");
  EXPECT_EQ(body_text("\x1b[2J", 4, false, 10, "--opt", "hint").substr(0, 1), "(");  // escapes make it binary
}

TEST(CaptureView, binary_body_is_summarised_and_truncation_said_plainly) {
  std::string png("\x89PNG\r\n\x1a\n", 8);
  EXPECT_EQ(body_text(png, 100, true, 1000, "--capture-response-body", "--json for all of it"),
            "(8 bytes of binary; --json for all of it)\n"
            "00000000  89 50 4e 47 0d 0a 1a 0a                           |.PNG....|\n"
            "… cut when captured: 8 of 100 bytes stored (--capture-response-body)\n");
  std::string big(100, '\0');
  auto text = body_text(big, 100, false, 1000, "--o", "h");
  EXPECT_EQ(text.substr(0, text.find('\n')), "(100 bytes of binary, the first 64 below; h)");
}

TEST(CaptureView, show_text_masks_and_summarises) {
  auto c = sample();
  auto text = capture_text(c, {});
  EXPECT_NE(text.find("capture 42\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  time              2026-11-26T14:02:03.123Z\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  url               https://shop.example.com/checkout?step=2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  group             7: POST /checkout 500\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  redacted          json:password\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\n--- request ---\nPOST /checkout?step=2 HTTP/1.1\nHost: shop.example.com\nauthorization: [masked]\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("s3cr3t"), std::string::npos) << text;
  EXPECT_EQ(text.find("session=abc"), std::string::npos) << text;
  EXPECT_NE(text.find("\n--- response ---\nHTTP/1.1 500 Internal Server Error\nContent-Type: text/plain\nSet-Cookie: [masked]\n\nboom\n"),
            std::string::npos)
      << text;
  show_settings reveal;
  reveal.reveal = true;
  EXPECT_NE(capture_text(c, reveal).find("authorization: Bearer s3cr3t\n"), std::string::npos);
}

TEST(CaptureView, show_text_says_why_a_capture_is_not_replayable) {
  auto c = sample();
  c.replayable = false;
  c.request_body_truncated = true;
  c.request_body_size = 5'000'000;
  auto text = capture_text(c, {});
  EXPECT_NE(text.find("  replayable        no — the request body was cut: 26 of 5000000 bytes stored (--capture-request-body)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("… cut when captured: 26 of 5000000 bytes stored (--capture-request-body)\n"), std::string::npos) << text;
}

TEST(CaptureView, show_text_escapes_control_characters_from_the_wire) {
  auto c = sample();
  c.target = "/x\x1b]0;pwned\x07";
  c.request_headers = "X-Evil: \x1b[2J\r\n";
  auto text = capture_text(c, {});
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_NE(text.find("/x\\x1b]0;pwned\\x07"), std::string::npos) << text;
}
