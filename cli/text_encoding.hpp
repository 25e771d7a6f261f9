#pragma once
// Bytes from the wire made fit for a terminal or a JSON document: the proxy stores
// exactly what it received, which need not be UTF-8, nor free of escape sequences.
#include <cstddef>
#include <string>
#include <string_view>

namespace hindsight::cli {

// Each byte as the code point of the same value, as WSGI decodes header values
// (PEP 3333): lossless, and a script gets the bytes back with .encode('latin-1').
std::string latin1_to_utf8(std::string_view bytes);

bool is_valid_utf8(std::string_view bytes);

// For people: the text as is when it is valid UTF-8, else decoded as latin-1.
std::string utf8_or_latin1(std::string_view bytes);

// For a terminal, from UTF-8: control characters (C0, DEL, C1) written as \xNN (\t, \r
// and \n as such) so that stored bytes cannot move the cursor or change colours.
std::string escape_controls(std::string_view utf8);

// Whether a body reads as text: valid UTF-8 without control characters other than
// tab, CR, LF and form feed.
bool looks_like_text(std::string_view bytes);

// RFC 4648 §4, with padding.
std::string base64_encode(std::string_view bytes);

// The first `max_bytes` of `bytes` as `xxd` shows them: offset, 16 bytes in hex, and
// their printable ASCII, one line each.
std::string hex_dump(std::string_view bytes, std::size_t max_bytes);

// Columns a UTF-8 string takes: one per code point (hindsight prints no wide glyphs
// of its own; wide ones from the wire are rare enough to misalign a row).
std::size_t display_width(std::string_view utf8);

// At most `width` columns: the start and the end kept, the middle replaced by "…".
std::string ellipsize_middle(std::string_view utf8, std::size_t width);

// The longest prefix of `bytes` of at most `max_bytes` that does not cut a UTF-8
// sequence in two.
std::size_t utf8_prefix_length(std::string_view bytes, std::size_t max_bytes);

}  // namespace hindsight::cli
