#pragma once
// `hindsight replay ID --diff`: the replayed response compared with the captured one —
// status, headers (without the volatile ones), body (JSON by paths, text as a unified
// diff, else the first differing byte). Pure: two responses in, a report out.
#include <boost/json/object.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "replay/result_view.hpp"
#include "store/capture.hpp"

namespace hindsight::replay {

// One response as the comparison sees it: headers as [name, value] pairs in order.
struct compared_response {
  int status = 0;  // 0: there was none
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;       // as far as it is known
  bool body_cut = false;  // `body` is a prefix of a longer body
};

// The response the capture holds (header values decoded as latin-1, as the worker's are).
compared_response captured_response(const store::stored_capture& c);
// The response of a completed replay, from a worker or from the app.
compared_response replayed_response(const replay_result& r);

// Fields that differ between two runs of the same request without the app behaving
// differently (dates, framing, per-request ids and timings), lower case. Set-Cookie is
// compared without its Expires and Max-Age attributes.
const std::vector<std::string_view>& volatile_headers();

struct header_change {
  std::string name;  // lower case
  enum class kind { changed, added, removed } what = kind::changed;
  std::string captured, replayed;  // the values joined with ", "; "" for the missing side
};

struct json_change {
  std::string path;  // $.items[2].price, $['a b']
  enum class kind { changed, added, removed } what = kind::changed;
  std::string captured, replayed;  // serialized JSON; "" for the missing side
};

struct body_comparison {
  enum class kind { same, json, text, binary } what = kind::same;
  bool prefix_only = false;        // a body was cut: only the bytes both have are compared
  std::size_t compared_bytes = 0;
  std::size_t captured_size = 0, replayed_size = 0;
  std::vector<json_change> json_changes;  // what == json; at most max_json_changes
  std::size_t json_changes_left_out = 0;
  std::string unified;                    // what == text: a bounded unified diff
  std::optional<std::size_t> first_difference;  // byte offset, for text and binary
};

struct response_diff {
  bool same() const { return status_same && headers.empty() && body.what == body_comparison::kind::same; }
  bool status_same = true;
  int captured_status = 0, replayed_status = 0;
  std::vector<header_change> headers;
  body_comparison body;
};

inline constexpr std::size_t max_json_changes = 100;
inline constexpr std::size_t max_diff_lines = 200;

response_diff compare_responses(const compared_response& captured, const compared_response& replayed);

// The changes between two JSON documents, as paths (RFC 9535 normalized paths, with
// dot notation where the name allows it).
std::vector<json_change> json_diff(const boost::json::value& captured, const boost::json::value& replayed);

// A unified diff of two texts (3 lines of context, `--- captured` / `+++ replayed`),
// at most max_diff_lines lines; "" when they are equal.
std::string unified_diff(std::string_view captured, std::string_view replayed);

// `--json`: {"same", "status": {captured, replayed, same}, "headers": [{name, change,
// captured, replayed}], "ignored_headers", "body": {same, kind, prefix_only, …}}.
// Credential header values are masked (store::is_credential_header).
boost::json::object diff_to_json(const response_diff& d);
// For a terminal, after the replay's own output.
std::string diff_text(const response_diff& d);

}  // namespace hindsight::replay
