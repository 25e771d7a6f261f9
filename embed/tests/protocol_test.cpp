#include "embed/protocol.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

namespace protocol = hindsight::protocol;

namespace {

struct socket_pair {
  int a = -1, b = -1;
  socket_pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw std::runtime_error("socketpair");
    a = fds[0];
    b = fds[1];
  }
  ~socket_pair() {
    close_a();
    if (b >= 0) ::close(b);
  }
  void close_a() {
    if (a >= 0) ::close(a);
    a = -1;
  }
};

std::string u32(std::uint32_t v) {
  std::string s(4, '\0');
  s[0] = static_cast<char>(v >> 24);
  s[1] = static_cast<char>(v >> 16);
  s[2] = static_cast<char>(v >> 8);
  s[3] = static_cast<char>(v);
  return s;
}

void send_raw(int fd, const std::string& bytes) {
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
}

protocol::error::kind kind_of_read(int fd, int timeout_ms) {
  try {
    protocol::read_frame(fd, timeout_ms);
  } catch (const protocol::error& e) {
    return e.code();
  }
  ADD_FAILURE() << "read_frame did not throw";
  return protocol::error::kind::io;
}

}  // namespace

TEST(ProtocolFrame, round_trips_header_and_binary_body) {
  socket_pair s;
  std::string body("\0\xff\r\n binary", 11);
  protocol::write_frame(s.a, R"({"type":"hello","protocol":1})", body);
  auto f = protocol::read_frame(s.b, 1000);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->header, R"({"type":"hello","protocol":1})");
  EXPECT_EQ(f->body, body);
}

TEST(ProtocolFrame, uses_big_endian_lengths_on_the_wire) {
  socket_pair s;
  protocol::write_frame(s.a, "{}", "abc");
  char buf[64];
  ssize_t n = ::read(s.b, buf, sizeof buf);
  EXPECT_EQ(std::string(buf, static_cast<std::size_t>(n)), u32(2) + "{}" + u32(3) + "abc");
}

TEST(ProtocolFrame, empty_body_is_allowed) {
  socket_pair s;
  protocol::write_frame(s.a, R"({"type":"loaded"})", "");
  auto f = protocol::read_frame(s.b, 1000);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->body, "");
}

TEST(ProtocolFrame, several_frames_in_a_row_keep_their_boundaries) {
  socket_pair s;
  for (int i = 0; i < 5; ++i) protocol::write_frame(s.a, "{\"n\":" + std::to_string(i) + "}", std::string(i, 'x'));
  for (int i = 0; i < 5; ++i) {
    auto f = protocol::read_frame(s.b, 1000);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->header, "{\"n\":" + std::to_string(i) + "}");
    EXPECT_EQ(f->body, std::string(i, 'x'));
  }
}

TEST(ProtocolFrame, large_body_crosses_the_socket_buffer) {
  socket_pair s;
  std::string body(8 << 20, 'b');
  for (std::size_t i = 0; i < body.size(); i += 4093) body[i] = static_cast<char>(i);
  std::thread writer([&] { protocol::write_frame(s.a, "{}", body); });
  auto f = protocol::read_frame(s.b, 10000);
  writer.join();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->body, body);
}

TEST(ProtocolFrame, clean_close_at_a_frame_boundary_is_nullopt) {
  socket_pair s;
  protocol::write_frame(s.a, "{}", "");
  s.close_a();
  EXPECT_TRUE(protocol::read_frame(s.b, 1000));
  EXPECT_FALSE(protocol::read_frame(s.b, 1000));
}

TEST(ProtocolFrame, close_inside_a_frame_is_peer_closed) {
  socket_pair s;
  send_raw(s.a, u32(10) + "{\"ty");
  s.close_a();
  EXPECT_EQ(kind_of_read(s.b, 1000), protocol::error::kind::peer_closed);
}

TEST(ProtocolFrame, close_inside_a_length_is_peer_closed) {
  socket_pair s;
  send_raw(s.a, std::string("\0\0", 2));
  s.close_a();
  EXPECT_EQ(kind_of_read(s.b, 1000), protocol::error::kind::peer_closed);
}

TEST(ProtocolFrame, oversize_header_announcement_is_rejected_before_reading_it) {
  socket_pair s;
  send_raw(s.a, u32(protocol::max_header_size + 1));
  EXPECT_EQ(kind_of_read(s.b, 1000), protocol::error::kind::too_large);
}

TEST(ProtocolFrame, oversize_body_announcement_is_rejected) {
  socket_pair s;
  send_raw(s.a, u32(2) + "{}" + u32(protocol::max_body_size + 1));
  EXPECT_EQ(kind_of_read(s.b, 1000), protocol::error::kind::too_large);
}

TEST(ProtocolFrame, header_that_is_not_an_object_is_rejected) {
  socket_pair s;
  send_raw(s.a, u32(7) + "[1,2,3]" + u32(0));
  EXPECT_EQ(kind_of_read(s.b, 1000), protocol::error::kind::bad_header);
}

TEST(ProtocolFrame, silence_times_out) {
  socket_pair s;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(kind_of_read(s.b, 100), protocol::error::kind::timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(90));
}

TEST(ProtocolFrame, partial_frame_then_silence_times_out) {
  socket_pair s;
  send_raw(s.a, u32(2) + "{}");
  EXPECT_EQ(kind_of_read(s.b, 100), protocol::error::kind::timeout);
}

TEST(ProtocolFrame, writing_to_a_closed_peer_is_an_error_not_sigpipe) {
  socket_pair s;
  ::close(s.b);
  s.b = -1;
  EXPECT_THROW(protocol::write_frame(s.a, "{}", std::string(1 << 20, 'x')), protocol::error);
}

TEST(ProtocolFrame, oversize_header_is_refused_by_the_writer) {
  socket_pair s;
  std::string header(protocol::max_header_size + 1, ' ');
  header[0] = '{';
  EXPECT_THROW(protocol::write_frame(s.a, header, ""), protocol::error);
}
