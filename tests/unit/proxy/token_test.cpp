#include "proxy/token.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

using namespace hindsight::proxy;

namespace {

token_secret secret_of(unsigned char fill) {
  token_secret s;
  s.fill(fill);
  return s;
}

// A head as the proxy parses it; `raw` must outlive the result.
request_head parse(const std::string& raw) {
  request_head h;
  auto r = parse_request_head(raw, h, head_limits{});
  EXPECT_EQ(r.state, parse_state::complete) << r.error.reason;
  return h;
}

std::string_view field_value(const request_head& h, std::string_view name) {
  for (const auto& f : h.fields)
    if (iequals(f.name, name)) return f.value;
  return "<absent>";
}

}  // namespace

TEST(Token, signed_token_verifies_until_it_expires) {
  auto key = secret_of(1);
  auto t = sign_token(key, 1000, 4600);
  token_info info;
  EXPECT_EQ(verify_token(key, t, 1000, &info), token_status::valid);
  EXPECT_EQ(info.issued_s, 1000);
  EXPECT_EQ(info.expires_s, 4600);
  EXPECT_EQ(info.id.size(), 32u);
  EXPECT_EQ(verify_token(key, t, 4599), token_status::valid);
  EXPECT_EQ(verify_token(key, t, 4600), token_status::expired);
  // Only base64url characters and one dot: safe in a cookie, a header and a query.
  EXPECT_EQ(t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."), std::string::npos);
  EXPECT_NE(sign_token(key, 1000, 4600), t);  // a random id in each
}

TEST(Token, another_secret_makes_it_forged) {
  auto t = sign_token(secret_of(1), 1000, 4600);
  EXPECT_EQ(verify_token(secret_of(2), t, 1000), token_status::forged);
}

TEST(Token, tampering_with_any_part_is_detected) {
  auto key = secret_of(1);
  auto t = sign_token(key, 1000, 4600);
  auto dot = t.find('.');
  // Push the expiry out: re-encode the payload with another expiry, keep the MAC.
  auto other = sign_token(key, 1000, 999'999);
  EXPECT_EQ(verify_token(key, other.substr(0, other.find('.')) + t.substr(dot), 1000), token_status::forged);
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (i == dot) continue;
    auto bad = t;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    auto s = verify_token(key, bad, 1000);
    EXPECT_NE(s, token_status::valid) << "flipping character " << i << " of " << t;
  }
  // The MAC's last character carries 2 unused bits: setting one gives the same bytes,
  // and must still not verify (one spelling per token).
  {
    static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    auto bad = t;
    auto v = alphabet.find(bad.back());
    ASSERT_NE(v, std::string::npos);
    bad.back() = alphabet[v ^ 1];
    EXPECT_EQ(verify_token(key, bad, 1000), token_status::malformed) << bad;
  }
  EXPECT_EQ(verify_token(key, "", 1000), token_status::malformed);
  EXPECT_EQ(verify_token(key, "abc", 1000), token_status::malformed);
  EXPECT_EQ(verify_token(key, "a.b", 1000), token_status::malformed);
  EXPECT_EQ(verify_token(key, t + "x", 1000), token_status::malformed);
  EXPECT_EQ(verify_token(key, t.substr(0, dot), 1000), token_status::malformed);
}

TEST(Token, secret_is_created_once_owner_only_and_reused) {
  auto dir = std::filesystem::temp_directory_path() / ("hindsight-token-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto a = load_or_create_secret(dir);
  auto b = load_or_create_secret(dir);
  EXPECT_EQ(a, b);
  struct stat st{};
  ASSERT_EQ(::stat((dir / "secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(st.st_size, 32);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);  // no temporary left behind
  std::filesystem::resize_file(dir / "secret", 5);
  EXPECT_THROW(load_or_create_secret(dir), std::runtime_error);
  std::filesystem::remove_all(dir);
}

TEST(Token, a_secret_others_could_read_or_replace_is_refused) {
  auto dir = std::filesystem::temp_directory_path() / ("hindsight-token-bad-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  auto secret = dir / "secret";
  auto message = [&] {
    try {
      load_or_create_secret(dir);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("<loaded>");
  };
  load_or_create_secret(dir);
  ::chmod(secret.c_str(), 0644);  // readable by others
  EXPECT_NE(message().find("not a regular file of this user with mode 0600"), std::string::npos) << message();
  std::filesystem::remove(secret);
  ASSERT_EQ(::mkfifo(secret.c_str(), 0600), 0);  // must not hang
  EXPECT_NE(message().find("not a regular file"), std::string::npos) << message();
  std::filesystem::remove(secret);
  std::filesystem::create_symlink("/etc/hostname", secret);
  EXPECT_NE(message().find("is a symbolic link"), std::string::npos) << message();
  std::filesystem::remove_all(dir);
}

TEST(TokenStrip, header_is_removed) {
  std::string raw = "GET /x HTTP/1.1\r\nHost: a\r\nX-Hindsight-Token: T1\r\nAccept: */*\r\n\r\n";
  auto h = parse(raw);
  token_scratch s;
  auto f = strip_debug_token(h, s);
  EXPECT_EQ(f.source, token_source::header);
  EXPECT_EQ(f.value, "T1");
  EXPECT_TRUE(f.stripped);
  ASSERT_EQ(h.fields.size(), 2u);
  EXPECT_EQ(field_value(h, "x-hindsight-token"), "<absent>");
  EXPECT_EQ(head_without_token(raw, h, f), "GET /x HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n");
}

TEST(TokenStrip, cookie_is_removed_keeping_the_others_byte_exact) {
  struct example {
    std::string cookie, kept;
  };
  for (const auto& e : std::vector<example>{
           {"a=1; hindsight_debug=T1; b=2", "a=1; b=2"},
           {"hindsight_debug=T1; a=1", "a=1"},
           {"a=1;hindsight_debug=T1", "a=1"},
           {"a=1;  b=\"x y\";hindsight_debug=\"T1\";c=3", "a=1;  b=\"x y\";c=3"},
           {"a=1; xhindsight_debug=2; hindsight_debug=T1", "a=1; xhindsight_debug=2"},
       }) {
    std::string raw = "GET / HTTP/1.1\r\nHost: a\r\nCookie: " + e.cookie + "\r\n\r\n";
    auto h = parse(raw);
    token_scratch s;
    auto f = strip_debug_token(h, s);
    EXPECT_EQ(f.source, token_source::cookie) << e.cookie;
    EXPECT_EQ(f.value, "T1") << e.cookie;
    EXPECT_EQ(field_value(h, "cookie"), e.kept) << e.cookie;
    EXPECT_EQ(head_without_token(raw, h, f), "GET / HTTP/1.1\r\nHost: a\r\nCookie: " + e.kept + "\r\n\r\n");
  }
  std::string only = "GET / HTTP/1.1\r\nHost: a\r\nCookie: hindsight_debug=T1\r\n\r\n";
  auto h = parse(only);
  token_scratch s;
  strip_debug_token(h, s);
  EXPECT_EQ(field_value(h, "cookie"), "<absent>");  // an empty Cookie field is dropped
}

TEST(TokenStrip, query_parameter_is_removed_from_target_and_origin_target) {
  struct example {
    std::string target, kept;
  };
  for (const auto& e : std::vector<example>{
           {"/p?hindsight_token=T1", "/p"},
           {"/p?a=1&hindsight_token=T1&b=%20x", "/p?a=1&b=%20x"},
           {"/p?hindsight_token=T1&pdb=1", "/p?pdb=1"},
           {"/p?pdb=1&&hindsight_token=T1", "/p?pdb=1&"},
       }) {
    std::string raw = "GET " + e.target + " HTTP/1.1\r\nHost: a\r\nX-A:  b \r\n\r\n";
    auto h = parse(raw);
    token_scratch s;
    auto f = strip_debug_token(h, s);
    EXPECT_EQ(f.source, token_source::query);
    EXPECT_EQ(f.value, "T1");
    EXPECT_EQ(h.target, e.kept);
    EXPECT_EQ(h.origin_target, e.kept);
    // Other lines byte for byte, odd whitespace included.
    EXPECT_EQ(head_without_token(raw, h, f), "GET " + e.kept + " HTTP/1.1\r\nHost: a\r\nX-A:  b \r\n\r\n");
  }
  std::string absolute = "GET http://a/p?x=1&hindsight_token=T1 HTTP/1.1\r\nHost: a\r\n\r\n";
  auto h = parse(absolute);
  token_scratch s;
  strip_debug_token(h, s);
  EXPECT_EQ(h.origin_target, "/p?x=1");
}

TEST(TokenStrip, spellings_frameworks_read_as_the_token_are_removed_too) {
  // What Django, Werkzeug or gunicorn < 22 would hand the app as the token's name.
  for (std::string target : {"/p?%68indsight_token=T1&a=1", "/p?hindsight%5Ftoken=T1&a=1"}) {
    std::string raw = "GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n";
    auto h = parse(raw);
    token_scratch s;
    auto f = strip_debug_token(h, s);
    EXPECT_EQ(f.value, "T1") << target;
    EXPECT_EQ(h.target, "/p?a=1") << target;
  }
  {
    std::string raw = "GET / HTTP/1.1\r\nHost: a\r\nCookie: a=1; hindsight_debug =T1\r\n\r\n";
    auto h = parse(raw);
    token_scratch s;
    auto f = strip_debug_token(h, s);
    EXPECT_EQ(f.value, "T1");
    EXPECT_EQ(field_value(h, "cookie"), "a=1");
  }
  {
    std::string raw = "GET / HTTP/1.1\r\nHost: a\r\nx_hindsight_token: T1\r\n\r\n";
    auto h = parse(raw);
    token_scratch s;
    auto f = strip_debug_token(h, s);
    EXPECT_EQ(f.value, "T1");
    EXPECT_EQ(h.fields.size(), 1u);
  }
  // Other percent-encoded names stay as they are.
  std::string raw = "GET /p?caf%C3%A9=1&a%20b=2 HTTP/1.1\r\nHost: a\r\n\r\n";
  auto h = parse(raw);
  token_scratch s;
  EXPECT_FALSE(strip_debug_token(h, s).stripped);
  EXPECT_EQ(h.target, "/p?caf%C3%A9=1&a%20b=2");
}

TEST(TokenStrip, a_request_without_token_is_untouched) {
  std::string raw = "GET /p?pdb=1&hindsight_tokens=1 HTTP/1.1\r\nHost: a\r\nCookie: a=1; hindsight_debugx=2\r\n\r\n";
  auto h = parse(raw);
  auto fields = h.fields.size();
  token_scratch s;
  auto f = strip_debug_token(h, s);
  EXPECT_EQ(f.source, token_source::none);
  EXPECT_FALSE(f.stripped);
  EXPECT_EQ(h.target, "/p?pdb=1&hindsight_tokens=1");
  EXPECT_EQ(h.fields.size(), fields);
  EXPECT_EQ(field_value(h, "cookie"), "a=1; hindsight_debugx=2");
}

TEST(TokenStrip, all_three_are_removed_and_the_header_wins) {
  std::string raw =
      "GET /p?hindsight_token=Q HTTP/1.1\r\nHost: a\r\nCookie: hindsight_debug=C; s=1\r\nX-Hindsight-Token: H\r\n\r\n";
  auto h = parse(raw);
  token_scratch s;
  auto f = strip_debug_token(h, s);
  EXPECT_EQ(f.value, "H");
  EXPECT_EQ(h.target, "/p");
  EXPECT_EQ(field_value(h, "cookie"), "s=1");
  EXPECT_EQ(field_value(h, "x-hindsight-token"), "<absent>");
}

TEST(Token, set_cookie_is_http_only_secure_strict) {
  EXPECT_EQ(token_set_cookie("T", 3599), "hindsight_debug=T; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=3599");
}
