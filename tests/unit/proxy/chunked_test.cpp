#include "proxy/chunked.hpp"

#include <gtest/gtest.h>

using namespace hindsight::proxy;

namespace {

struct decoded {
  std::string data;
  std::size_t consumed = 0;
  bool done = false, failed = false;
  std::string trailers;
};

// Feeds `input` in pieces of `step` bytes, as reads from a socket would.
decoded decode(std::string_view input, std::size_t step = 1 << 20) {
  chunked_decoder d;
  decoded out;
  std::string buffer;
  for (std::size_t off = 0; off < input.size() && !d.done() && !d.failed(); off += step) {
    buffer += input.substr(off, step);
    std::vector<std::string_view> pieces;
    auto n = d.feed(buffer, pieces);
    for (auto p : pieces) out.data += p;
    out.consumed += n;
    buffer.erase(0, n);
  }
  out.done = d.done();
  out.failed = d.failed();
  out.trailers = d.trailers();
  return out;
}

}  // namespace

TEST(Chunked, decodes_across_any_split) {
  std::string_view input = "5\r\nhello\r\n6;name=\"v\"\r\n world\r\n0\r\nX-Sum: 1\r\n\r\nNEXT";
  for (std::size_t step : {1, 2, 3, 7, 100}) {
    auto r = decode(input, step);
    EXPECT_TRUE(r.done) << step;
    EXPECT_EQ(r.data, "hello world") << step;
    EXPECT_EQ(r.trailers, "X-Sum: 1\r\n") << step;
    EXPECT_EQ(r.consumed, input.size() - 4) << step;  // the next message stays unread
  }
}

TEST(Chunked, accepts_uppercase_hex_leading_zeros_and_bws_before_extensions) {
  auto r = decode("0A \t;ext\r\n0123456789\r\n000\r\n\r\n");
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.data, "0123456789");
}

TEST(Chunked, refuses_malformed_sizes_and_endings) {
  for (auto bad : {"xyz\r\n", "\r\n", "-1\r\n", "1234567890abcdef0\r\n", "5 \r\nhello\r\n", "5\rhello",
                   "5\r\nhelloXX", "5\r\nhello\r\r", "5\nhello\r\n", "5;\x01\r\n",
                   "0\r\nTransfer-Encoding: chunked\r\n\r\n", "0\r\nContent-Length: 5\r\n\r\n", "0\r\nHost: x\r\n\r\n",
                   "0\r\nBad Name: x\r\n\r\n", "0\r\nX: 1\n\r\n"}) {
    auto r = decode(bad);
    EXPECT_TRUE(r.failed) << bad;
    EXPECT_FALSE(r.done) << bad;
  }
}

TEST(Chunked, bounds_size_lines_and_trailers) {
  EXPECT_TRUE(decode("5;" + std::string(chunked_decoder::max_size_line, 'a') + "\r\n").failed);
  EXPECT_TRUE(decode("0\r\nX: " + std::string(chunked_decoder::max_trailer_section, 'a') + "\r\n\r\n").failed);
}

TEST(Chunked, formats_size_lines) {
  char buf[20];
  EXPECT_EQ(std::string(buf, format_chunk_size(buf, 0)), "0\r\n");
  EXPECT_EQ(std::string(buf, format_chunk_size(buf, 255)), "ff\r\n");
  EXPECT_EQ(std::string(buf, format_chunk_size(buf, 65536)), "10000\r\n");
}
