#include "replay/worker_request.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

using namespace hindsight;
namespace json = boost::json;

namespace {

store::stored_capture capture(std::string method, std::string target, std::string headers, std::string body = "") {
  store::stored_capture c;
  c.id = 7;
  c.client = "203.0.113.9";
  c.scheme = "https";
  c.method = std::move(method);
  c.target = std::move(target);
  c.request_headers = std::move(headers);
  c.request_body = std::move(body);
  c.request_body_size = c.request_body.size();
  return c;
}

json::array headers_of(const replay::worker_request& r) { return r.header.at("headers").as_array(); }

json::array pair(std::string_view a, std::string_view b) { return json::array{json::string(a), json::string(b)}; }

}  // namespace

TEST(WorkerRequest, sends_the_head_the_app_saw_behind_the_proxy) {
  auto c = capture("POST", "/orders/7/total/?x=1",
                   "Host: shop.example\r\nConnection: keep-alive\r\nX-Forwarded-For: 198.51.100.1\r\n"
                   "Accept: a\r\nAccept: b\r\nContent-Length: 4\r\nKeep-Alive: 5\r\n",
                   "abcd");
  auto r = replay::rebuild_request(c, {});
  EXPECT_EQ(r.header.at("type"), "request");
  EXPECT_EQ(r.header.at("capture_id"), 7);
  EXPECT_EQ(r.header.at("method"), "POST");
  EXPECT_EQ(r.header.at("target"), "/orders/7/total/?x=1");
  EXPECT_EQ(r.header.at("version"), "HTTP/1.1");
  EXPECT_EQ(r.header.at("scheme"), "https");
  // Host first, hop-by-hop gone, duplicates kept in order, the TCP client appended to
  // X-Forwarded-For, the proxy's framing.
  EXPECT_EQ(headers_of(r), (json::array{pair("Host", "shop.example"), pair("Accept", "a"), pair("Accept", "b"),
                                        pair("X-Forwarded-For", "198.51.100.1, 203.0.113.9"),
                                        pair("Content-Length", "4")}));
  EXPECT_EQ(r.body, "abcd");
  EXPECT_TRUE(r.warnings.empty());
}

TEST(WorkerRequest, a_unix_socket_client_adds_nothing_to_x_forwarded_for) {
  auto c = capture("GET", "/boom/", "Host: h\r\nX-Forwarded-For: 198.51.100.1\r\n");
  c.client = "unix";
  auto r = replay::rebuild_request(c, {});
  EXPECT_EQ(headers_of(r), (json::array{pair("Host", "h"), pair("X-Forwarded-For", "198.51.100.1")}));
}

TEST(WorkerRequest, http_1_0_and_absolute_form_arrive_as_the_proxy_sent_them) {
  auto c = capture("GET", "http://shop.example/a?b", "");
  c.version = 10;
  auto r = replay::rebuild_request(c, {});
  EXPECT_EQ(r.header.at("target"), "/a?b");
  EXPECT_EQ(r.header.at("version"), "HTTP/1.1");
  EXPECT_EQ(headers_of(r), (json::array{pair("Host", "shop.example"), pair("X-Forwarded-For", "203.0.113.9")}));
}

TEST(WorkerRequest, header_bytes_are_latin1_strings) {
  auto c = capture("GET", "/caf%C3%A9", "Host: h\r\nX-Name: caf\xe9\r\n");
  auto r = replay::rebuild_request(c, {});
  EXPECT_EQ(headers_of(r).at(1), pair("X-Name", "caf\xc3\xa9"));  // the byte 0xE9 as U+00E9
  EXPECT_EQ(r.header.at("target"), "/caf%C3%A9");             // raw: the worker decodes it as gunicorn does
  EXPECT_TRUE(r.warnings.empty());
}

TEST(WorkerRequest, unix_upstream_gives_gunicorn_s_empty_peer_and_path_server) {
  auto c = capture("GET", "/", "Host: h\r\n");
  replay::request_settings s;
  s.upstream = "unix:/data/app.sock";
  auto r = replay::rebuild_request(c, s);
  EXPECT_EQ(r.header.at("remote_addr"), "");
  EXPECT_EQ(r.header.at("remote_port"), "");
  EXPECT_EQ(r.header.at("server"), (json::array{"/data/app.sock", "443"}));
  s.upstream = "127.0.0.1:8123";
  r = replay::rebuild_request(c, s);
  EXPECT_EQ(r.header.at("remote_addr"), "127.0.0.1");
  EXPECT_EQ(r.header.at("server"), (json::array{"127.0.0.1", "8123"}));
}

TEST(WorkerRequest, carries_the_mode_breakpoints_and_limits) {
  replay::request_settings s;
  s.mode = "pdb";
  s.breaks = {replay::parse_breakpoint("shop/views.py:42:order_id == 7"), replay::parse_breakpoint("/a.py:3")};
  s.rollback = false;
  s.timeout_s = 3600;
  auto r = replay::rebuild_request(capture("GET", "/", "Host: h\r\n"), s);
  EXPECT_EQ(r.header.at("mode"), "pdb");
  EXPECT_EQ(r.header.at("rollback"), false);
  EXPECT_EQ(r.header.at("timeout_s").to_number<double>(), 3600);
  EXPECT_EQ(r.header.at("breaks"),
            (json::array{json::object{{"file", "shop/views.py"}, {"line", 42}, {"condition", "order_id == 7"}},
                         json::object{{"file", "/a.py"}, {"line", 3}}}));
}

TEST(WorkerRequest, warns_of_a_cut_body_and_of_scrubbed_secrets) {
  auto c = capture("POST", "/upload/", "Host: h\r\nContent-Length: 10\r\n", "abc");
  c.request_body_size = 10;
  c.request_body_truncated = true;
  c.redacted = {"form:password"};
  auto r = replay::rebuild_request(c, {});
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_NE(r.warnings[0].find("3 of 10 bytes"), std::string::npos) << r.warnings[0];
  EXPECT_NE(r.warnings[1].find("form:password"), std::string::npos) << r.warnings[1];
  EXPECT_EQ(r.body, "abc");
  EXPECT_EQ(headers_of(r).back(), pair("Content-Length", "10"));  // as the app saw it
}

TEST(WorkerRequest, parses_breakpoints) {
  auto b = replay::parse_breakpoint("views.py:7:a[1:2] == b");
  EXPECT_EQ(b.file, "views.py");
  EXPECT_EQ(b.line, 7);
  EXPECT_EQ(b.condition, "a[1:2] == b");
  for (auto bad : {"views.py", "views.py:", ":3", "views.py:x", "views.py:0", "views.py:3:"})
    EXPECT_THROW(replay::parse_breakpoint(bad), std::invalid_argument) << bad;
}
