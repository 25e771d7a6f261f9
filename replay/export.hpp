#pragma once
// `hindsight export`: a stored request written as something another tool replays — a
// curl command line, a HAR 1.2 document, the raw bytes, a Python `requests` snippet.
// Pure functions from a capture to text, tested without a store.
//
// Credential headers (store::is_credential_header) carry store::mask_marker unless
// `reveal`; values the store scrubbed at capture time stay "[redacted]" whatever
// `reveal` says, since the originals were never written.
#include <boost/json/object.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "store/capture.hpp"

namespace hindsight::replay {

// The capture's URL as the client asked for it: the scheme the router saw
// (X-Forwarded-Proto, else http), the Host field (localhost when absent), the target.
std::string capture_url(const store::capture& c);

// POSIX shell single quoting: 'it'\''s'. Any byte but NUL survives it.
std::string shell_quote(std::string_view bytes);

// One shell command line. Text bodies go in `--data-binary '…'`; any other body (binary,
// or text starting with '@', which curl would take for a file name) is piped from
// `printf` with every other byte as an octal escape — POSIX sh, NUL-safe, exact bytes.
// Headers curl adds by itself (User-Agent, Accept, Content-Type, Expect) are switched
// off when the capture did not have them.
std::string to_curl(const store::stored_capture& c, bool reveal);

// A Python string or bytes literal: printable ASCII as is, the rest escaped (\n, \xNN).
// For a str, each byte becomes the code point of the same value (latin-1), as
// http.client encodes header values back.
std::string python_literal(std::string_view bytes, bool as_bytes);

// A script for /usr/bin/python3 with `requests`: the request sent once, the status and
// body printed. The body is always a bytes literal, so the app gets the exact bytes;
// headers requests and urllib3 add by themselves are removed when the capture lacked them.
std::string to_python(const store::stored_capture& c, bool reveal);

// A HAR 1.2 log with one entry, the fields browsers and mitmproxy write. Bodies that are
// not UTF-8 text are base64 with "encoding": "base64" (response.content as the spec says;
// request.postData likewise, as an extension HAR readers commonly accept). A body cut at
// capture has its size as sent and a `comment` that says how much is stored.
boost::json::object to_har(const store::stored_capture& c, bool reveal, std::string_view creator_version);

// The request's bytes as `show --raw` writes them (framing rewritten to one
// Content-Length of the stored body), credential header values masked unless `reveal`.
std::string to_raw(const store::stored_capture& c, bool reveal);

// Sentences for stderr about what makes an export differ from the original request:
// no Host to build the URL from, masked headers, scrubbed values, a body cut at capture.
std::vector<std::string> export_warnings(const store::stored_capture& c, bool reveal);

}  // namespace hindsight::replay
