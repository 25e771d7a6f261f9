#include "cli/text_encoding.hpp"

#include <gtest/gtest.h>

using namespace hindsight::cli;

TEST(TextEncoding, latin1_to_utf8_maps_each_byte_to_its_code_point) {
  EXPECT_EQ(latin1_to_utf8("plain"), "plain");
  EXPECT_EQ(latin1_to_utf8("caf\xe9"), "caf\xc3\xa9");
  EXPECT_EQ(latin1_to_utf8("\xff\x80"), "\xc3\xbf\xc2\x80");
  // UTF-8 input is decoded byte by byte too: latin-1 is lossless, not clever.
  EXPECT_EQ(latin1_to_utf8("\xc3\xa9"), "\xc3\x83\xc2\xa9");
}

TEST(TextEncoding, recognises_valid_utf8_only) {
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe2\x80\xa6 \xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("caf\xe9"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe2\x80"));          // cut short
  EXPECT_EQ(utf8_or_latin1("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(utf8_or_latin1("caf\xe9"), "caf\xc3\xa9");
}

TEST(TextEncoding, escapes_what_would_drive_a_terminal) {
  EXPECT_EQ(escape_controls("a\x1b[31mred"), "a\\x1b[31mred");
  EXPECT_EQ(escape_controls("line\r\nnext\tcol"), "line\nnext\tcol");
  EXPECT_EQ(escape_controls("over\rwrite"), "over\\x0dwrite");
  EXPECT_EQ(escape_controls("del\x7f"), "del\\x7f");
  EXPECT_EQ(escape_controls("c1 \xc2\x9b"), "c1 \\u009b");
  EXPECT_EQ(escape_controls("caf\xc3\xa9"), "caf\xc3\xa9");
}

TEST(TextEncoding, tells_text_from_binary) {
  EXPECT_TRUE(looks_like_text("{\"a\": 1}\r\n\tok"));
  EXPECT_TRUE(looks_like_text("caf\xc3\xa9"));
  EXPECT_TRUE(looks_like_text(""));
  EXPECT_FALSE(looks_like_text(std::string_view("\x89PNG\r\n\x1a\n\0\0", 10)));
  EXPECT_FALSE(looks_like_text(std::string_view("a\0b", 3)));
  EXPECT_FALSE(looks_like_text("caf\xe9"));
}

TEST(TextEncoding, base64_follows_rfc4648_test_vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode(std::string_view("\0\xff\xfe", 3)), "AP/+");
}

TEST(TextEncoding, hex_dump_shows_offsets_bytes_and_ascii) {
  EXPECT_EQ(hex_dump(std::string_view("\x89PNG\r\n\x1a\n\0\0\0\rIHDR!", 17), 64),
            "00000000  89 50 4e 47 0d 0a 1a 0a  00 00 00 0d 49 48 44 52  |.PNG........IHDR|\n"
            "00000010  21                                                |!|\n");
  EXPECT_EQ(hex_dump("abcdef", 2), "00000000  61 62                                             |ab|\n");
}

TEST(TextEncoding, ellipsizes_in_the_middle_by_code_points) {
  EXPECT_EQ(ellipsize_middle("/short", 10), "/short");
  EXPECT_EQ(ellipsize_middle("/api/v1/orders/12345/items", 11), "/api/…items");
  EXPECT_EQ(display_width(ellipsize_middle("/api/v1/orders/12345/items", 11)), 11u);
  EXPECT_EQ(ellipsize_middle("/caf\xc3\xa9/caf\xc3\xa9/caf\xc3\xa9", 7), "/ca…af\xc3\xa9");
  EXPECT_EQ(display_width("caf\xc3\xa9\xe2\x80\xa6"), 5u);
}

TEST(TextEncoding, never_cuts_a_utf8_sequence) {
  EXPECT_EQ(utf8_prefix_length("abc", 10), 3u);
  EXPECT_EQ(utf8_prefix_length("ab\xc3\xa9z", 3), 2u);
  EXPECT_EQ(utf8_prefix_length("ab\xc3\xa9z", 4), 4u);
  EXPECT_EQ(utf8_prefix_length("\xf0\x9f\x98\x80!", 2), 0u);
}
