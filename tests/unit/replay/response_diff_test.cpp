#include "replay/response_diff.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>

using namespace hindsight::replay;
using namespace std::string_literals;
namespace json = boost::json;

namespace {

compared_response response(int status, std::vector<std::pair<std::string, std::string>> headers, std::string body) {
  return compared_response{status, std::move(headers), std::move(body), false};
}

}  // namespace

TEST(JsonDiff, reports_changed_added_and_removed_paths) {
  auto a = json::parse(R"({"items":[{"sku":"A","price":10},{"sku":"B","price":20},{"sku":"C","price":30}],
                           "total":60,"gone":true,"odd key":1,"n":1})");
  auto b = json::parse(R"({"items":[{"sku":"A","price":10},{"sku":"B","price":20},{"sku":"C","price":35}],
                           "total":65,"odd key":2,"new":[1],"n":1.0})");
  auto d = json_diff(a, b);
  ASSERT_EQ(d.size(), 5u);
  EXPECT_EQ(d[0].path, "$.items[2].price");
  EXPECT_EQ(d[0].what, json_change::kind::changed);
  EXPECT_EQ(d[0].captured, "30");
  EXPECT_EQ(d[0].replayed, "35");
  EXPECT_EQ(d[1].path, "$.total");
  EXPECT_EQ(d[2].path, "$.gone");
  EXPECT_EQ(d[2].what, json_change::kind::removed);
  EXPECT_EQ(d[2].captured, "true");
  EXPECT_EQ(d[3].path, "$['odd key']");
  EXPECT_EQ(d[4].path, "$.new");
  EXPECT_EQ(d[4].what, json_change::kind::added);
  EXPECT_EQ(d[4].replayed, "[1]");
}

TEST(JsonDiff, arrays_of_different_lengths_and_type_changes) {
  auto d = json_diff(json::parse(R"([1,{"a":"x"},3])"), json::parse(R"([1,"x"])"));
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].path, "$[1]");
  EXPECT_EQ(d[0].what, json_change::kind::changed);
  EXPECT_EQ(d[0].captured, R"({"a":"x"})");
  EXPECT_EQ(d[1].path, "$[2]");
  EXPECT_EQ(d[1].what, json_change::kind::removed);
  EXPECT_TRUE(json_diff(json::parse("{}"), json::parse("{}")).empty());
}

TEST(HeaderDiff, ignores_volatile_fields_and_set_cookie_expiry) {
  auto a = response(500, {{"Date", "Mon, 01 Jan 2026 00:00:00 GMT"}, {"Server", "gunicorn"}, {"Content-Length", "10"},
                          {"X-Request-Id", "abc"}, {"Content-Type", "text/html"},
                          {"Set-Cookie", "sid=1; Expires=Mon, 01 Jan 2026 00:00:00 GMT; Max-Age=60; Path=/"}},
                    "body");
  auto b = response(500, {{"content-type", "text/html"}, {"Transfer-Encoding", "chunked"}, {"X-Request-Id", "def"},
                          {"Set-Cookie", "sid=1; Path=/; Expires=Tue, 02 Jan 2026 00:00:00 GMT; Max-Age=60"},
                          {"Date", "Tue, 02 Jan 2026 00:00:00 GMT"}},
                    "body");
  auto d = compare_responses(a, b);
  EXPECT_TRUE(d.same()) << diff_text(d);
}

TEST(HeaderDiff, reports_changed_added_and_removed_fields_masking_credentials) {
  auto a = response(200, {{"Content-Type", "text/html"}, {"X-Old", "1"}, {"Vary", "Cookie"}, {"Vary", "Accept"},
                          {"Set-Cookie", "sid=secret1; Path=/"}},
                    "");
  auto b = response(200, {{"Content-Type", "application/json"}, {"Vary", "Cookie"}, {"X-New", "2"},
                          {"Set-Cookie", "sid=secret2; Path=/"}},
                    "");
  auto d = compare_responses(a, b);
  ASSERT_EQ(d.headers.size(), 5u) << diff_text(d);
  EXPECT_EQ(d.headers[0].name, "content-type");
  EXPECT_EQ(d.headers[0].what, header_change::kind::changed);
  EXPECT_EQ(d.headers[1].name, "x-old");
  EXPECT_EQ(d.headers[1].what, header_change::kind::removed);
  EXPECT_EQ(d.headers[2].name, "vary");
  EXPECT_EQ(d.headers[2].captured, "Cookie, Accept");
  EXPECT_EQ(d.headers[3].name, "set-cookie");
  EXPECT_EQ(d.headers[4].name, "x-new");
  EXPECT_EQ(d.headers[4].what, header_change::kind::added);
  auto text = diff_text(d);
  EXPECT_EQ(text.find("secret"), std::string::npos) << text;
  EXPECT_NE(text.find("set-cookie changed: [masked] → [masked]"), std::string::npos) << text;
  EXPECT_EQ(json::serialize(diff_to_json(d)).find("secret"), std::string::npos);
}

TEST(BodyDiff, json_bodies_are_compared_by_paths_not_bytes) {
  auto same = compare_responses(response(200, {}, R"({"a": 1, "b": [1, 2]})"), response(200, {}, R"({"b":[1,2],"a":1})"));
  EXPECT_TRUE(same.same());
  auto d = compare_responses(response(200, {}, R"({"items":[{"price":1}]})"), response(200, {}, R"({"items":[{"price":2}]})"));
  EXPECT_FALSE(d.same());
  EXPECT_EQ(d.body.what, body_comparison::kind::json);
  ASSERT_EQ(d.body.json_changes.size(), 1u);
  EXPECT_EQ(d.body.json_changes[0].path, "$.items[0].price");
  auto j = diff_to_json(d);
  EXPECT_EQ(j.at("same"), false);
  EXPECT_EQ(j.at("body").at("kind"), "json");
  EXPECT_EQ(j.at("body").at("changes").as_array().at(0).at("path"), "$.items[0].price");
  EXPECT_NE(diff_text(d).find("$.items[0].price changed: 1 → 2"), std::string::npos) << diff_text(d);
}

TEST(BodyDiff, text_bodies_get_a_unified_diff) {
  auto d = compare_responses(response(500, {}, "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\n"),
                             response(500, {}, "one\ntwo\nthree\nfour\nFIVE\nsix\nseven\neight\nnine\n"));
  EXPECT_EQ(d.body.what, body_comparison::kind::text);
  EXPECT_EQ(d.body.unified,
            "--- captured\n+++ replayed\n"
            "@@ -2,7 +2,8 @@\n"
            " two\n three\n four\n-five\n+FIVE\n six\n seven\n eight\n+nine\n");
  EXPECT_EQ(d.body.first_difference, 19u);
}

TEST(BodyDiff, a_long_text_diff_is_bounded) {
  std::string a, b;
  for (int i = 0; i < 1000; ++i) {
    a += "line " + std::to_string(i) + "\n";
    b += "LINE " + std::to_string(i) + "\n";
  }
  auto u = unified_diff(a, b);
  std::size_t lines = std::count(u.begin(), u.end(), '\n');
  EXPECT_LE(lines, max_diff_lines + 1);
  EXPECT_NE(u.find("more diff lines"), std::string::npos);
}

TEST(BodyDiff, binary_bodies_report_sizes_and_the_first_differing_offset) {
  auto d = compare_responses(response(200, {}, "\x89PNG\x00\x01\x02"s), response(200, {}, "\x89PNG\x00\x07\x02\x03"s));
  EXPECT_EQ(d.body.what, body_comparison::kind::binary);
  EXPECT_EQ(d.body.first_difference, 5u);
  EXPECT_NE(diff_text(d).find("bodies differ (7 vs 8 bytes, first difference at offset 5)"), std::string::npos);
}

TEST(BodyDiff, a_body_cut_at_capture_is_compared_as_a_prefix) {
  auto captured = response(200, {}, "{\"items\": [1, 2");
  captured.body_cut = true;
  auto d = compare_responses(captured, response(200, {}, "{\"items\": [1, 2, 3]}"));
  EXPECT_TRUE(d.same()) << diff_text(d);
  EXPECT_TRUE(d.body.prefix_only);
  EXPECT_EQ(d.body.compared_bytes, 15u);
  EXPECT_NE(diff_text(d).find("only the first 15 bytes"), std::string::npos);
  // The replayed body really ended earlier: that is a difference.
  auto shorter = compare_responses(captured, response(200, {}, "{\"it"));
  EXPECT_FALSE(shorter.same());
  auto changed = compare_responses(captured, response(200, {}, "{\"items\": [9, 2, 3]}"));
  EXPECT_FALSE(changed.same());
  EXPECT_EQ(changed.body.first_difference, 11u);
}

TEST(ResponseDiff, a_status_change_is_a_difference) {
  auto d = compare_responses(response(500, {}, ""), response(200, {}, ""));
  EXPECT_FALSE(d.same());
  EXPECT_FALSE(d.status_same);
  EXPECT_NE(diff_text(d).find("status: 500 → 200"), std::string::npos);
  // A worker's app that raised before start_response has no status.
  EXPECT_NE(diff_text(compare_responses(response(500, {}, ""), response(0, {}, ""))).find("status: 500 → none"),
            std::string::npos);
  auto j = diff_to_json(d);
  EXPECT_EQ(j.at("status").at("captured"), 500);
  EXPECT_EQ(j.at("status").at("replayed"), 200);
}
