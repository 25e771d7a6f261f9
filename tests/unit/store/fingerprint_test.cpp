#include "store/fingerprint.hpp"

#include <gtest/gtest.h>

namespace hs = hindsight::store;

TEST(Route, keeps_a_path_without_ids) {
  EXPECT_EQ(hs::route_of("/"), "/");
  EXPECT_EQ(hs::route_of("/checkout"), "/checkout");
  EXPECT_EQ(hs::route_of("/api/orders/"), "/api/orders/");
}

TEST(Route, drops_the_query_and_fragment) {
  EXPECT_EQ(hs::route_of("/search?q=1&page=2"), "/search");
  EXPECT_EQ(hs::route_of("/orders/7?x=/9"), "/orders/{int}");
  EXPECT_EQ(hs::route_of("/a#frag/1"), "/a");
  EXPECT_EQ(hs::route_of("/?q"), "/");
}

TEST(Route, replaces_numbers) {
  EXPECT_EQ(hs::route_of("/orders/123/items"), "/orders/{int}/items");
  EXPECT_EQ(hs::route_of("/orders/456/items"), "/orders/{int}/items");
  EXPECT_EQ(hs::route_of("/0"), "/{int}");
  EXPECT_EQ(hs::route_of("/users/42/posts/7"), "/users/{int}/posts/{int}");
}

TEST(Route, replaces_uuids_in_any_case) {
  EXPECT_EQ(hs::route_of("/u/123e4567-e89b-12d3-a456-426614174000"), "/u/{uuid}");
  EXPECT_EQ(hs::route_of("/u/123E4567-E89B-12D3-A456-426614174000/x"), "/u/{uuid}/x");
  // one digit short in the last group, and dashes misplaced: not a UUID
  EXPECT_EQ(hs::route_of("/u/123e4567-e89b-12d3-a456-42661417400"), "/u/123e4567-e89b-12d3-a456-42661417400");
  EXPECT_EQ(hs::route_of("/u/123e4567e-89b-12d3-a456-426614174000"), "/u/123e4567e-89b-12d3-a456-426614174000");
}

TEST(Route, replaces_dates_before_numbers) {
  EXPECT_EQ(hs::route_of("/reports/2024-05-01"), "/reports/{date}");
  EXPECT_EQ(hs::route_of("/reports/20240501"), "/reports/{date}");
  EXPECT_EQ(hs::route_of("/reports/2024-02-29/csv"), "/reports/{date}/csv");
}

TEST(Route, implausible_dates_are_not_dates) {
  EXPECT_EQ(hs::route_of("/reports/2024-13-45"), "/reports/2024-13-45");
  EXPECT_EQ(hs::route_of("/reports/2024-04-31"), "/reports/2024-04-31");
  // eight digits that are no date are an id
  EXPECT_EQ(hs::route_of("/orders/20241399"), "/orders/{int}");
  EXPECT_EQ(hs::route_of("/orders/12345678"), "/orders/{int}");
}

TEST(Route, replaces_hex_ids_with_a_digit) {
  EXPECT_EQ(hs::route_of("/commits/9fceb02d"), "/commits/{hex}");
  EXPECT_EQ(hs::route_of("/objects/507f1f77bcf86cd799439011"), "/objects/{hex}");
  EXPECT_EQ(hs::route_of("/objects/507F1F77BCF86CD799439011"), "/objects/{hex}");
}

TEST(Route, words_and_short_tokens_are_not_ids) {
  EXPECT_EQ(hs::route_of("/v2"), "/v2");
  EXPECT_EQ(hs::route_of("/deadbeef"), "/deadbeef");      // hex letters but no digit: a word
  EXPECT_EQ(hs::route_of("/abc123"), "/abc123");          // under 8 hex digits
  EXPECT_EQ(hs::route_of("/9fceb02"), "/9fceb02");        // 7 hex digits
  EXPECT_EQ(hs::route_of("/9fceb02g"), "/9fceb02g");      // 'g' is not hex
  EXPECT_EQ(hs::route_of("/-12"), "/-12");
  EXPECT_EQ(hs::route_of("/12a"), "/12a");
}

TEST(Route, keeps_empty_segments_and_the_trailing_slash) {
  EXPECT_EQ(hs::route_of("/a//b"), "/a//b");
  EXPECT_EQ(hs::route_of("//12//"), "//{int}//");
  EXPECT_EQ(hs::route_of("/orders/12/"), "/orders/{int}/");
}

TEST(Route, leaves_percent_encoded_segments_alone) {
  EXPECT_EQ(hs::route_of("/files/%31%32"), "/files/%31%32");
  EXPECT_EQ(hs::route_of("/caf%C3%A9/12"), "/caf%C3%A9/{int}");
}

TEST(Route, ids_with_a_file_extension) {
  EXPECT_EQ(hs::route_of("/orders/123.json"), "/orders/{int}.json");
  EXPECT_EQ(hs::route_of("/reports/2024-05-01.tar.gz"), "/reports/{date}.tar.gz");
  EXPECT_EQ(hs::route_of("/api/1.5/x"), "/api/1.5/x");    // a version, not an id
  EXPECT_EQ(hs::route_of("/robots.txt"), "/robots.txt");
  EXPECT_EQ(hs::route_of("/12."), "/12.");
}

TEST(Route, absolute_and_asterisk_forms) {
  EXPECT_EQ(hs::route_of("http://example.com/orders/5?x=1"), "/orders/{int}");
  EXPECT_EQ(hs::route_of("https://example.com:8443/a/20240501/"), "/a/{date}/");
  EXPECT_EQ(hs::route_of("http://example.com"), "/");
  EXPECT_EQ(hs::route_of("http://example.com?q=/1"), "/");
  EXPECT_EQ(hs::route_of("*"), "*");
}

TEST(Fingerprint, method_route_and_status) {
  EXPECT_EQ(hs::fingerprint("GET", "/orders/{int}", 500, ""), "GET /orders/{int} 500");
  EXPECT_EQ(hs::fingerprint("GET", hs::route_of("/orders/1"), 500, ""),
            hs::fingerprint("GET", hs::route_of("/orders/2?x=y"), 500, ""));
  EXPECT_NE(hs::fingerprint("GET", "/orders/{int}", 500, ""), hs::fingerprint("GET", "/orders/{int}", 503, ""));
  EXPECT_NE(hs::fingerprint("GET", "/orders/{int}", 500, ""), hs::fingerprint("POST", "/orders/{int}", 500, ""));
}

TEST(Fingerprint, upstream_error_kind_follows_the_status) {
  EXPECT_EQ(hs::fingerprint("POST", "/checkout", 502, "timeout"), "POST /checkout 502 timeout");
  EXPECT_NE(hs::fingerprint("POST", "/checkout", 502, "timeout"), hs::fingerprint("POST", "/checkout", 502, "reset"));
  EXPECT_NE(hs::fingerprint("POST", "/checkout", 502, "reset"), hs::fingerprint("POST", "/checkout", 502, ""));
}
