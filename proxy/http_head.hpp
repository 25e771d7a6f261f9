#pragma once
// Strict parsing of HTTP/1.x message heads (RFC 9112, RFC 9110), without I/O.
//
// Beast 1.81's parser accepts requests a proxy must refuse (Transfer-Encoding: gzip on a
// request, chunked on HTTP/1.0, obs-fold, a repeated Host or Content-Length), and a
// proxy that frames a request differently from the app behind it is the root of request
// smuggling. So the proxy parses heads itself, refuses anything ambiguous, and later
// writes its own canonical framing upstream.
//
// The parsed heads hold string_views into the caller's buffer; they stay valid while
// the buffer's bytes do.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hindsight::proxy {

struct field {
  std::string_view name;   // as received (original case)
  std::string_view value;  // without surrounding whitespace
};

// How the bytes after a head are delimited (RFC 9112 §6.3).
enum class body_framing { none, content_length, chunked, until_close };

struct head_limits {
  std::size_t max_request_line = 8192;  // longer → 414
  std::size_t max_head_size = 65536;    // request line and fields together; larger → 431
  std::size_t max_fields = 100;         // more → 431
};

// Why a head was refused: the status to answer with and a sentence for the client.
struct head_error {
  int status = 400;
  std::string reason;
};

enum class parse_state { incomplete, complete, failed };

struct parse_result {
  parse_state state = parse_state::incomplete;
  std::size_t head_size = 0;  // bytes consumed, including leading empty lines and the final CRLF
  head_error error;
};

struct request_head {
  std::string_view method;
  std::string_view target;  // as received
  int version = 11;         // 10 or 11
  std::vector<field> fields;

  // Derived from the fields by parse_request_head.
  body_framing framing = body_framing::none;
  std::uint64_t content_length = 0;
  bool has_content_length = false;  // also when it is 0, which is forwarded as such
  bool keep_alive = true;       // the client wants the connection kept after the response
  bool expect_continue = false; // Expect: 100-continue
  bool upgrade = false;         // Connection: upgrade with an Upgrade field, on HTTP/1.1
  std::string_view upgrade_protocol;
  // The authority to send upstream as Host: the Host field, or the authority of an
  // absolute-form target (RFC 9112 §3.2.2: the target's authority wins).
  std::string_view host;
  bool has_host = false;
  // The target to send upstream, in origin-form (asterisk-form kept as "*").
  std::string_view origin_target;
  std::string origin_target_storage;  // when it is not a slice of the target: "/" + "?q"...
  std::vector<std::string_view> connection_options;  // tokens of the Connection field, lower-cased on compare

  bool is_head() const { return method == "HEAD"; }
};

struct response_head {
  int version = 11;
  int status = 0;
  std::string_view reason;
  std::vector<field> fields;

  body_framing framing = body_framing::none;
  std::uint64_t content_length = 0;
  bool has_content_length = false;
  bool keep_alive = true;  // the upstream connection may carry another request
  std::vector<std::string_view> connection_options;
};

// Parses and validates a request head at the start of `data`. `incomplete` means more
// bytes are needed (and none seen so far is wrong); `failed` carries the status to
// answer with. Never reads past data.size(). `searched`, when given, remembers across
// calls on a growing buffer how far the end of the head was already looked for, so a
// head trickling in byte by byte costs linear, not quadratic, time.
parse_result parse_request_head(std::string_view data, request_head& out, const head_limits& limits,
                                std::size_t* searched = nullptr);

// Parses a response head that answers a request with `request_method`. Errors are the
// upstream's fault: the caller answers 502.
parse_result parse_response_head(std::string_view data, std::string_view request_method,
                                 response_head& out, const head_limits& limits);

// Case-insensitive ASCII comparison for field names and tokens. Inline: it runs for
// several fields of every exchange, and most bytes compared are equal as they are.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const unsigned char x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x == y) continue;
    // Equal but for case only if they differ in the case bit and are letters.
    const unsigned char lx = x | 0x20;
    if (lx != (y | 0x20) || lx < 'a' || lx > 'z') return false;
  }
  return true;
}

// A field that describes or manages only one connection and must not be forwarded
// (RFC 9110 §7.6.1), nor the framing fields the proxy writes itself.
bool is_hop_by_hop(std::string_view name);

// Whether `name` (a field name) is listed in a Connection field's options.
bool listed_in(const std::vector<std::string_view>& connection_options, std::string_view name);

// Validates one field line's grammar (RFC 9110 §5.1, §5.5); used for trailers too.
bool is_token(std::string_view s);
// Whether every byte may stand in a field value or reason phrase: no CTL but HTAB, no DEL.
bool is_field_value(std::string_view s);

// Parses a block of field lines terminated by an empty line (a trailer section).
// Returns the number of bytes consumed, 0 when incomplete, or sets error.
std::size_t parse_field_block(std::string_view data, std::vector<field>& out, std::size_t max_fields,
                              head_error& error);

// Whether the form-encoded `encoded` (percent escapes, '+' for space) decodes to
// `plain`, without decoding it into a buffer. A '%' not followed by two hex digits
// stands for itself, as browsers and WSGI frameworks read it.
bool form_decodes_to(std::string_view encoded, std::string_view plain);

}  // namespace hindsight::proxy
