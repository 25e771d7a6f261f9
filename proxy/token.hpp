#pragma once
// Debug tokens (`hindsight token`): what makes a live debug rule fire for one developer
// and for nobody else. A token is
//
//   base64url(payload) "." base64url(HMAC-SHA256(secret, "hindsight-debug-token\0" + payload))
//
// with payload = version (1 byte, 1), issued and expires (seconds since the epoch, 8 bytes
// big-endian each) and a random id (16 bytes). The secret is 32 random bytes in
// <data>/secret (0600); whoever can read it can mint tokens, as whoever can SSH in may.
//
// A request carries a token as the `hindsight_debug` cookie, the `X-Hindsight-Token`
// header or a one-time `hindsight_token` query parameter; strip_debug_token takes it out
// of the request head before the app sees it, valid or not.
#include <array>
#include <cstdint>
#include <forward_list>
#include <filesystem>
#include <string>
#include <string_view>

#include "proxy/http_head.hpp"

namespace hindsight::proxy {

using token_secret = std::array<unsigned char, 32>;

inline constexpr std::string_view token_cookie = "hindsight_debug";
inline constexpr std::string_view token_header = "X-Hindsight-Token";
inline constexpr std::string_view token_query = "hindsight_token";

enum class token_status { valid, malformed, forged, expired, unknown_version };
// "valid", "malformed (not a hindsight token)", "forged (its signature does not match this
// data directory's secret)", "expired", "from another version of hindsight".
std::string_view describe(token_status s);

struct token_info {
  std::int64_t issued_s = 0, expires_s = 0;
  std::string id;  // hex of the random id
};

// A new token valid from `issued_s` to `expires_s`, with a random id.
std::string sign_token(const token_secret& secret, std::int64_t issued_s, std::int64_t expires_s);
// Checks the signature in constant time, then the expiry. `info` is filled whenever the
// signature holds (also for an expired token).
token_status verify_token(const token_secret& secret, std::string_view token, std::int64_t now_s,
                          token_info* info = nullptr);

// <data_dir>/secret: read, or created (32 bytes from the kernel's CSPRNG, mode 0600)
// atomically, so that two processes starting at once agree on one secret. Throws
// std::runtime_error saying what to do.
token_secret load_or_create_secret(const std::filesystem::path& data_dir);

std::string base64url(std::string_view bytes);

// Where a request's token was.
enum class token_source { none, header, cookie, query };

struct found_token {
  token_source source = token_source::none;
  std::string_view value;   // the first token found (header, then cookie, then query)
  bool stripped = false;    // the request head was changed
  std::string_view original_target;  // the target as received, when stripped
  // The target carried a hindsight_token parameter (a link): its page must not pass its
  // address on in Referer. Its value, when another source came first (an older cookie).
  bool in_query = false;
  std::string_view query_value;
};

// Storage for what strip_debug_token rewrites; the request head's views point into it
// until the next call.
struct token_scratch {
  std::string target, origin_target, token, query_token;
  // A list: adding one never moves the others, and an empty one allocates nothing
  // (every connection has one).
  std::forward_list<std::string> cookies;
};

// Removes every debug token from `req`: X-Hindsight-Token fields, the hindsight_debug
// pair of Cookie fields (the other pairs and separators kept byte for byte, a field left
// empty dropped) and hindsight_token query parameters (target and origin_target). Costs a
// scan of the field names and of the target when there is none.
found_token strip_debug_token(request_head& req, token_scratch& scratch);

// The request head as the store keeps it after strip_debug_token: `raw_head` (the bytes
// as received) with the target replaced and the removed or rewritten field lines
// changed; every other line byte for byte.
std::string head_without_token(std::string_view raw_head, const request_head& req, const found_token& found);

// "hindsight_debug=TOKEN; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=N"
std::string token_set_cookie(std::string_view token, std::int64_t max_age_s);

}  // namespace hindsight::proxy
