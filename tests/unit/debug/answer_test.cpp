#include "debug/answer.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace hindsight::debug {
namespace {

namespace json = boost::json;

json::object response(std::string_view text) { return json::parse(text).as_object(); }

std::string header(const proxy::debug_answer& a, std::string_view name) {
  for (const auto& [n, v] : a.headers)
    if (n == name) return v;
  return "(none)";
}

TEST(DebugAnswer, PassesTheAppsResponseWithoutItsFraming) {
  auto a = app_answer(response(R"({"status":"201 Created","headers":[["Content-Type","text/plain"],)"
                               R"(["Content-Length","5"],["Transfer-Encoding","chunked"],["Connection","close"],)"
                               R"(["Set-Cookie","a=1"],["Set-Cookie","b=2"]],"exception":null})"),
                      "hello", false, {});
  EXPECT_EQ(a.status, 201);
  EXPECT_EQ(a.reason, "Created");
  ASSERT_EQ(a.headers.size(), 3u);
  EXPECT_EQ(a.headers[1], (std::pair<std::string, std::string>{"Set-Cookie", "a=1"}));
  EXPECT_EQ(a.headers[2], (std::pair<std::string, std::string>{"Set-Cookie", "b=2"}));
  EXPECT_EQ(a.body, "hello");
  EXPECT_TRUE(a.error.empty());
}

TEST(DebugAnswer, HeaderValuesAreLatin1CodePoints) {
  auto a = app_answer(response(R"({"status":"200 OK","headers":[["X-Name","caf\u00e9"]]})"), "", false, {});
  EXPECT_EQ(header(a, "X-Name"), "caf\xe9");
}

TEST(DebugAnswer, RefusesAHeaderThatWouldSplitTheResponse) {
  auto a = app_answer(response(R"({"status":"200 OK","headers":[["X-A","1\r\nSet-Cookie: evil=1"]]})"), "", false, {});
  EXPECT_EQ(a.status, 502);
  EXPECT_NE(a.error.find("cannot pass on safely"), std::string::npos) << a.error;
  EXPECT_EQ(a.body.find("evil"), std::string::npos);
  auto wide = app_answer(response(R"({"status":"200 OK","headers":[["X-A","\u20ac"]]})"), "", false, {});
  EXPECT_EQ(wide.status, 502);
}

TEST(DebugAnswer, NoStatusMeansTheAppRaisedBeforeAnswering) {
  auto a = app_answer(response(R"({"status":null,"headers":[],"exception":{"type":"KeyError","message":"'x'","frames":[]}})"),
                      "", false, {});
  EXPECT_EQ(a.status, 500);
  EXPECT_EQ(a.body, "Internal Server Error");
}

TEST(DebugAnswer, TracebackActionServesThePageWithItsPolicy) {
  auto a = app_answer(response(R"({"status":"500 Internal Server Error","headers":[["Content-Type","text/html"]],)"
                               R"("exception":{"type":"ValueError","module":"builtins","message":"<script>x</script>",)"
                               R"("frames":[],"chain":[],"notes":[]}})"),
                      "the app's own 500", true, {.request_line = "GET /<b> HTTP/1.1", .origin = "live"});
  EXPECT_EQ(a.status, 500);
  EXPECT_EQ(header(a, "Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(header(a, "Content-Security-Policy"), std::string(replay::traceback_page_csp()));
  EXPECT_NE(a.body.find("&lt;script&gt;x&lt;/script&gt;"), std::string::npos);
  EXPECT_EQ(a.body.find("<script>"), std::string::npos);
  EXPECT_EQ(a.body.find("the app's own 500"), std::string::npos);
}

TEST(DebugAnswer, TracebackActionWithoutAnExceptionPassesTheResponse) {
  auto a = app_answer(response(R"({"status":"200 OK","headers":[],"exception":null})"), "fine", true, {});
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "fine");
}

TEST(DebugAnswer, TruncatedBodyIsNotPassedOnAsIfWhole) {
  auto a = app_answer(response(R"({"status":"200 OK","headers":[],"body_truncated":true})"), "part", false, {});
  EXPECT_EQ(a.status, 502);
  EXPECT_EQ(a.error_kind, "malformed");
}

TEST(DebugAnswer, NoBodyFor204And304) {
  EXPECT_EQ(app_answer(response(R"({"status":"204 No Content","headers":[]})"), "x", false, {}).body, "");
  EXPECT_EQ(app_answer(response(R"({"status":"304 Not Modified","headers":[]})"), "x", false, {}).body, "");
}

TEST(DebugAnswer, OwnAnswerSaysWhyAndWhenToRetry) {
  auto a = own_answer(503, "every debug worker is busy", "", 30);
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(a.reason, "Service Unavailable");
  EXPECT_EQ(header(a, "Retry-After"), "30");
  EXPECT_EQ(a.body, "hindsight: every debug worker is busy\n");
  EXPECT_EQ(a.error, "every debug worker is busy");
  EXPECT_EQ(header(own_answer(502, "x", "crashed"), "Retry-After"), "(none)");
}

}  // namespace
}  // namespace hindsight::debug
