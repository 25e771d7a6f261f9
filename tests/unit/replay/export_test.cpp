#include "replay/export.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <cstdio>

using namespace hindsight;
using namespace std::string_literals;
namespace json = boost::json;

namespace {

store::stored_capture capture() {
  store::stored_capture c;
  c.id = 9;
  c.time_us = 1'795'701'723'123'456;  // 2026-11-26T14:02:03.123456Z
  c.client = "203.0.113.9";
  c.scheme = "https";
  c.host = "shop.example";
  c.method = "POST";
  c.target = "/search/?q=caf%C3%A9+au+lait&n=1%2B1";
  c.request_headers =
      "Host: shop.example\r\n"
      "Connection: keep-alive, X-Hop\r\n"
      "X-Hop: gone\r\n"
      "Authorization: Bearer s3cr3t\r\n"
      "Cookie: session=abc; theme=dark\r\n"
      "Content-Type: application/x-www-form-urlencoded\r\n"
      "Content-Length: 19\r\n"
      "X-Quote: it's\r\n"
      "X-Empty: \r\n";
  c.request_body = "name=a+b&note=x%26y";
  c.request_body_size = c.request_body.size();
  c.status = 500;
  c.reason = "Internal Server Error";
  c.response_headers = "Content-Type: application/json\r\nSet-Cookie: sid=xyz; Path=/; HttpOnly\r\nLocation: /next\r\n";
  c.response_body = "{\"error\":\"boom\"}";
  c.response_body_size = c.response_body.size();
  c.duration_ms = 12.5;
  c.upstream_ms = 11;
  return c;
}

// What /bin/sh writes to stdout for `command`: the shell is the judge of the quoting.
std::string sh_output(const std::string& command) {
  std::FILE* p = ::popen(command.c_str(), "r");
  if (!p) return "(popen failed)";
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ::pclose(p);
  return out;
}

const json::object& entry(const json::object& har) {
  return har.at("log").at("entries").as_array().at(0).as_object();
}

std::string field(const json::array& name_values, std::string_view name) {
  for (const auto& v : name_values)
    if (v.at("name").as_string() == name) return std::string(v.at("value").as_string());
  return "(absent)";
}

}  // namespace

TEST(ExportCurl, shell_quote_survives_sh_for_every_byte_but_nul) {
  std::string all;
  for (int b = 1; b < 256; ++b) all += static_cast<char>(b);
  for (const std::string& s : {"plain"s, "it's"s, "'"s, "''"s, "a b\n$HOME `x` \"y\" \\z"s, all})
    EXPECT_EQ(sh_output("printf %s " + replay::shell_quote(s)), s);
}

TEST(ExportCurl, a_binary_body_is_piped_from_printf_with_its_exact_bytes) {
  auto c = capture();
  c.request_headers = "Host: h\r\nContent-Type: application/octet-stream\r\nContent-Length: 8\r\n";
  c.request_body = "MZ\x00\x01%s\\'\xff"s;
  auto line = replay::to_curl(c, false);
  ASSERT_TRUE(line.starts_with("printf '")) << line;
  EXPECT_NE(line.find(" | curl --http1.1 "), std::string::npos) << line;
  EXPECT_NE(line.find(" --data-binary @-"), std::string::npos) << line;
  // The printf part alone, run by sh, gives the body back.
  EXPECT_EQ(sh_output(line.substr(0, line.find(" | curl"))), c.request_body);
}

TEST(ExportCurl, a_text_body_starting_with_at_is_piped_so_curl_does_not_read_a_file) {
  auto c = capture();
  c.request_body = "@/etc/passwd";
  auto line = replay::to_curl(c, true);
  EXPECT_TRUE(line.starts_with("printf '@/etc/passwd' | curl")) << line;
}

TEST(ExportCurl, writes_method_url_and_end_to_end_headers_masking_credentials) {
  auto line = replay::to_curl(capture(), false);
  EXPECT_EQ(line,
            "curl --http1.1 --path-as-is --globoff -X 'POST' 'https://shop.example/search/?q=caf%C3%A9+au+lait&n=1%2B1'"
            " -H 'Authorization: [masked]' -H 'Cookie: [masked]'"
            " -H 'Content-Type: application/x-www-form-urlencoded' -H 'X-Quote: it'\\''s' -H 'X-Empty;'"
            " -H 'User-Agent:' -H 'Accept:' -H 'Expect:' --data-binary 'name=a+b&note=x%26y'\n");
  auto revealed = replay::to_curl(capture(), true);
  EXPECT_NE(revealed.find("-H 'Authorization: Bearer s3cr3t' -H 'Cookie: session=abc; theme=dark'"), std::string::npos)
      << revealed;
}

TEST(ExportCurl, get_head_and_empty_posts) {
  auto c = capture();
  c.method = "GET";
  c.request_headers = "Host: h\r\nUser-Agent: ua\r\nAccept: */*\r\n";
  c.request_body.clear();
  c.host = "h";
  c.scheme = "";
  EXPECT_EQ(replay::to_curl(c, false), "curl --http1.1 --path-as-is --globoff 'http://h/search/?q=caf%C3%A9+au+lait&n=1%2B1'"
                                       " -H 'User-Agent: ua' -H 'Accept: */*'\n");
  c.method = "HEAD";
  EXPECT_NE(replay::to_curl(c, false).find(" --head 'http://h/"), std::string::npos);
  // Content-Length: 0 reaches the app as CONTENT_LENGTH "0": an empty body is still sent.
  c.method = "POST";
  c.request_headers += "Content-Length: 0\r\n";
  EXPECT_NE(replay::to_curl(c, false).find(" -H 'Content-Type:' -H 'Expect:' --data-binary ''"), std::string::npos);
}

TEST(ExportPython, literals_escape_what_python_would_misread) {
  EXPECT_EQ(replay::python_literal("a\"b\\c\n\t\r", false), R"("a\"b\\c\n\t\r")");
  EXPECT_EQ(replay::python_literal("MZ\x00\x01\xff"s, true), R"(b"MZ\x00\x01\xff")");
  EXPECT_EQ(replay::python_literal("caf\xe9", false), R"("caf\xe9")");
}

TEST(ExportPython, the_snippet_sends_the_headers_once_and_the_body_as_bytes) {
  auto c = capture();
  c.request_headers += "Accept: a\r\nAccept: b\r\nCookie: more=1\r\n";
  auto py = replay::to_python(c, true);
  EXPECT_NE(py.find("import requests\n"), std::string::npos);
  EXPECT_NE(py.find("requests.request(\n    \"POST\",\n    \"https://shop.example/search/?q=caf%C3%A9+au+lait&n=1%2B1\",\n"),
            std::string::npos)
      << py;
  EXPECT_NE(py.find("        \"Accept\": \"a, b\",\n"), std::string::npos) << py;
  EXPECT_NE(py.find("        \"Cookie\": \"session=abc; theme=dark; more=1\",\n"), std::string::npos) << py;
  EXPECT_NE(py.find("from urllib3.util import SKIP_HEADER\n"), std::string::npos) << py;
  EXPECT_NE(py.find("        \"User-Agent\": SKIP_HEADER,\n"), std::string::npos) << py;
  EXPECT_NE(py.find("        \"Accept-Encoding\": SKIP_HEADER,\n"), std::string::npos) << py;
  EXPECT_EQ(py.find("\"Accept\": None"), std::string::npos) << py;
  EXPECT_EQ(py.find("X-Hop"), std::string::npos) << py;
  EXPECT_EQ(py.find("Content-Length"), std::string::npos) << py;
  EXPECT_NE(py.find("    data=b\"name=a+b&note=x%26y\",\n"), std::string::npos) << py;
  EXPECT_NE(replay::to_python(capture(), false).find("\"Authorization\": \"[masked]\""), std::string::npos);
}

TEST(ExportHar, has_the_fields_har_1_2_requires) {
  auto har = replay::to_har(capture(), false, "0.1.0");
  const auto& log = har.at("log").as_object();
  EXPECT_EQ(log.at("version"), "1.2");
  EXPECT_EQ(log.at("creator").at("name"), "hindsight");
  EXPECT_EQ(log.at("creator").at("version"), "0.1.0");
  const auto& e = entry(har);
  EXPECT_EQ(e.at("startedDateTime"), "2026-11-26T14:02:03.123Z");
  EXPECT_EQ(e.at("time").to_number<double>(), 12.5);
  EXPECT_TRUE(e.at("cache").is_object());
  for (auto k : {"send", "wait", "receive"}) EXPECT_TRUE(e.at("timings").at(k).is_number()) << k;
  const auto& req = e.at("request").as_object();
  for (auto k : {"method", "url", "httpVersion", "cookies", "headers", "queryString", "headersSize", "bodySize"})
    EXPECT_TRUE(req.contains(k)) << k;
  EXPECT_EQ(req.at("url"), "https://shop.example/search/?q=caf%C3%A9+au+lait&n=1%2B1");
  EXPECT_EQ(req.at("httpVersion"), "HTTP/1.1");
  EXPECT_EQ(field(req.at("queryString").as_array(), "q"), "caf\xc3\xa9 au lait");
  EXPECT_EQ(field(req.at("queryString").as_array(), "n"), "1+1");
  EXPECT_EQ(field(req.at("headers").as_array(), "Authorization"), "[masked]");
  EXPECT_EQ(field(req.at("cookies").as_array(), "session"), "[masked]");
  EXPECT_EQ(req.at("postData").at("mimeType"), "application/x-www-form-urlencoded");
  EXPECT_EQ(req.at("postData").at("text"), "name=a+b&note=x%26y");
  EXPECT_EQ(field(req.at("postData").at("params").as_array(), "name"), "a b");
  EXPECT_EQ(field(req.at("postData").at("params").as_array(), "note"), "x&y");
  const auto& resp = e.at("response").as_object();
  for (auto k : {"status", "statusText", "httpVersion", "cookies", "headers", "content", "redirectURL", "headersSize",
                 "bodySize"})
    EXPECT_TRUE(resp.contains(k)) << k;
  EXPECT_EQ(resp.at("status"), 500);
  EXPECT_EQ(resp.at("redirectURL"), "/next");
  EXPECT_EQ(resp.at("content").at("size"), 16);
  EXPECT_EQ(resp.at("content").at("mimeType"), "application/json");
  EXPECT_EQ(resp.at("content").at("text"), "{\"error\":\"boom\"}");
  EXPECT_FALSE(resp.at("content").as_object().contains("encoding"));
  const auto& cookie = resp.at("cookies").as_array().at(0).as_object();
  EXPECT_EQ(cookie.at("name"), "sid");
  EXPECT_EQ(cookie.at("value"), "[masked]");
  EXPECT_EQ(cookie.at("path"), "/");
  EXPECT_EQ(cookie.at("httpOnly"), true);

  auto revealed = replay::to_har(capture(), true, "0.1.0");
  EXPECT_EQ(field(entry(revealed).at("request").at("headers").as_array(), "Authorization"), "Bearer s3cr3t");
  EXPECT_EQ(field(entry(revealed).at("request").at("cookies").as_array(), "theme"), "dark");
}

TEST(ExportHar, binary_bodies_are_base64_and_a_cut_body_says_so) {
  auto c = capture();
  c.request_headers = "Host: h\r\nContent-Type: application/octet-stream\r\nContent-Length: 4\r\n";
  c.request_body = "MZ\x00\x01"s;
  c.response_body = "\x89PNG"s;
  c.response_body_size = 70000;
  c.response_body_truncated = true;
  auto har = replay::to_har(c, false, "0.1.0");
  const auto& post = entry(har).at("request").at("postData").as_object();
  EXPECT_EQ(post.at("text"), "TVoAAQ==");
  EXPECT_EQ(post.at("encoding"), "base64");
  const auto& content = entry(har).at("response").at("content").as_object();
  EXPECT_EQ(content.at("text"), "iVBORw==");
  EXPECT_EQ(content.at("encoding"), "base64");
  EXPECT_EQ(content.at("size"), 70000);
  EXPECT_NE(std::string(content.at("comment").as_string()).find("the first 4 of 70000 bytes"), std::string::npos);
}

TEST(ExportRaw, masks_credentials_unless_revealed_and_keeps_the_body) {
  auto c = capture();
  auto raw = replay::to_raw(c, false);
  EXPECT_TRUE(raw.starts_with("POST /search/?q=caf%C3%A9+au+lait&n=1%2B1 HTTP/1.1\r\nHost: shop.example\r\n")) << raw;
  EXPECT_NE(raw.find("\r\nAuthorization: [masked]\r\n"), std::string::npos);
  EXPECT_NE(raw.find("\r\nContent-Length: 19\r\n"), std::string::npos) << raw;
  EXPECT_TRUE(raw.ends_with("\r\n\r\nname=a+b&note=x%26y"));
  EXPECT_NE(replay::to_raw(c, true).find("\r\nAuthorization: Bearer s3cr3t\r\n"), std::string::npos);
}

TEST(ExportWarnings, say_what_differs_from_the_original) {
  auto c = capture();
  c.redacted = {"form:password", "response-json:token"};
  c.request_body_truncated = true;
  c.request_body_size = 100;
  auto w = replay::export_warnings(c, false);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0], "credential headers masked: Authorization, Cookie (--reveal includes them)");
  EXPECT_EQ(w[1], "values scrubbed at capture are sent as [redacted]: form:password");
  EXPECT_NE(w[2].find("19 of 100 body bytes"), std::string::npos);
  EXPECT_EQ(replay::export_warnings(capture(), true).size(), 0u);
}

TEST(ExportWarnings, a_request_without_host_gets_localhost_and_a_warning) {
  auto c = capture();
  c.host.clear();
  c.version = 10;
  EXPECT_EQ(replay::capture_url(c), "https://localhost/search/?q=caf%C3%A9+au+lait&n=1%2B1");
  auto w = replay::export_warnings(c, true);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_TRUE(w[0].starts_with("the request had no Host field")) << w[0];
}
