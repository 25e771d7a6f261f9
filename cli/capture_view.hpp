#pragma once
// Captures as `list` and `show` print them, text and JSON: pure functions from what the
// store returns to what the user reads, so each form is tested without a database.
//
// Text from the wire is shown safely: header names and values decoded as latin-1 (as WSGI
// does), targets as UTF-8 when valid else latin-1, control characters escaped. In JSON every
// string that came from the wire (method, target, path, route, fingerprint, header names
// and values, reason) is decoded as latin-1, so `.encode('latin-1')` gives the exact bytes;
// bodies are base64.
#include <boost/json/object.hpp>
#include <boost/json/array.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/capture.hpp"
#include "store/queries.hpp"

namespace hindsight::cli {

// One "Name: value" line of a stored header section (see store::capture). `line` is the
// line as stored, without its CRLF; `value` has its surrounding whitespace removed.
struct header_field {
  std::string_view name, value, line;
};
std::vector<header_field> split_header_fields(std::string_view block);

// The request as it would be sent again (`show --raw`): the request line, the header
// fields in their stored order and case, except that Content-Length and Transfer-Encoding
// are replaced — at the place of the first of them — by one Content-Length with the stored
// body's length (after the fields when the request had a body but no framing field), an
// empty line, the body. The stored body has its chunked coding removed already.
std::string rebuild_request(const store::capture& c);

// Header fields for display, decoded as latin-1; credential fields (store::is_credential_header)
// get store::mask_marker as their value unless `reveal`.
std::vector<std::pair<std::string, std::string>> display_headers(std::string_view block, bool reveal);

// --- list ---
boost::json::object summary_to_json(const store::capture_summary& s);
boost::json::object group_to_json(const store::group_summary& g);
// ID TIME STATUS METHOD PATH DURATION GROUP REPLAY, one row per capture as given.
std::string capture_table(const std::vector<store::capture_summary>& rows);
// GROUP COUNT FIRST SEEN LAST SEEN METHOD ROUTE STATUS.
std::string group_table(const std::vector<store::group_summary>& rows);
// "500", or "502 timeout" when the app gave no answer.
std::string status_text(int status, std::string_view upstream_error_kind);

// --- show ---
struct show_settings {
  bool reveal = false;          // credential headers unmasked
  std::size_t body_limit = 8192;  // bytes of a text body shown; 0: all
};
boost::json::object capture_to_json(const store::stored_capture& c, bool reveal);
std::string capture_text(const store::stored_capture& c, const show_settings& settings);

// One body for `show`: text as is (up to the limit, with a note of what is left), binary
// as a short hex dump, and plain notes on what the capture cut. `option` names the run
// option that limits this body (--capture-request-body …); `whole_hint` says where the
// whole stored body can be had.
std::string body_text(std::string_view stored, std::uint64_t total_size, bool truncated, std::size_t limit,
                      std::string_view option, std::string_view whole_hint);

}  // namespace hindsight::cli
