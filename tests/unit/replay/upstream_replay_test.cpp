#include "replay/upstream_replay.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <functional>
#include <thread>

using namespace hindsight;
using namespace std::chrono_literals;

namespace {

store::stored_capture capture() {
  store::stored_capture c;
  c.id = 3;
  c.client = "203.0.113.9";
  c.method = "POST";
  c.target = "/orders/7/?x=1";
  c.request_headers =
      "Host: shop.example\r\nConnection: keep-alive\r\nX-Forwarded-For: 198.51.100.1\r\n"
      "Transfer-Encoding: chunked\r\nAuthorization: Bearer t\r\n";
  c.request_body = "abcd";
  c.request_body_size = 4;
  return c;
}

// A loopback listener that reads one request head and answers with `answer` (or
// nothing, when it is empty, until the test ends).
class one_shot_server {
 public:
  explicit one_shot_server(std::string answer) : answer_(std::move(answer)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 1);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~one_shot_server() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    if (conn_ >= 0) ::shutdown(conn_, SHUT_RDWR);
    thread_.join();
    if (conn_ >= 0) ::close(conn_);
  }
  proxy::address address() const { return proxy::parse_address("127.0.0.1:" + std::to_string(port_)); }
  std::string received() const { return received_; }

 private:
  void serve() {
    conn_ = ::accept(fd_, nullptr, nullptr);
    if (conn_ < 0) return;
    char buf[4096];
    while (received_.find("\r\n\r\n") == std::string::npos) {
      auto n = ::read(conn_, buf, sizeof buf);
      if (n <= 0) return;
      received_.append(buf, static_cast<std::size_t>(n));
    }
    if (answer_.empty()) {
      while (::read(conn_, buf, sizeof buf) > 0) {
      }
      return;
    }
    (void)!::write(conn_, answer_.data(), answer_.size());
    ::shutdown(conn_, SHUT_WR);
  }

  std::string answer_;
  int fd_ = -1, conn_ = -1;
  std::uint16_t port_ = 0;
  std::string received_;
  std::thread thread_;
};

}  // namespace

TEST(UpstreamReplay, sends_the_head_the_proxy_forwarded_with_credentials_and_one_content_length) {
  auto r = replay::upstream_request_for(capture());
  EXPECT_EQ(r.bytes,
            "POST /orders/7/?x=1 HTTP/1.1\r\nHost: shop.example\r\nAuthorization: Bearer t\r\n"
            "X-Forwarded-For: 198.51.100.1, 203.0.113.9\r\n"
            "Content-Length: 4\r\n\r\nabcd");
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_FALSE(r.head);
}

TEST(UpstreamReplay, reads_a_chunked_response_and_keeps_at_most_the_body_limit) {
  one_shot_server app(
      "HTTP/1.1 500 INTERNAL SERVER ERROR\r\nContent-Type: text/plain\r\nX-Caf: caf\xe9\r\n"
      "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  replay::upstream_settings s{.address = app.address(), .timeout = 5s, .body_limit = 8};
  auto r = replay::replay_upstream(s, replay::upstream_request_for(capture()));
  ASSERT_EQ(r.how, replay::outcome::completed) << r.error;
  EXPECT_EQ(r.response.at("status"), "500 INTERNAL SERVER ERROR");
  EXPECT_EQ(r.response.at("headers").as_array().at(1), boost::json::value(boost::json::array{"X-Caf", "caf\xc3\xa9"}));
  EXPECT_EQ(r.response.at("body_size").to_number<std::uint64_t>(), 11u);
  EXPECT_EQ(r.response.at("body_truncated"), true);
  EXPECT_EQ(r.body, "hello wo");
  EXPECT_TRUE(app.received().starts_with("POST /orders/7/?x=1 HTTP/1.1\r\n"));
}

TEST(UpstreamReplay, an_app_that_does_not_answer_is_a_timeout_naming_the_address) {
  one_shot_server app("");
  replay::upstream_settings s{.address = app.address(), .timeout = 300ms};
  auto r = replay::replay_upstream(s, replay::upstream_request_for(capture()));
  EXPECT_EQ(r.how, replay::outcome::timeout);
  EXPECT_EQ(r.error, "the app at " + app.address().to_string() + " did not answer within 0.3 s (--timeout to allow longer)");
}

TEST(UpstreamReplay, a_refused_connection_says_what_to_check) {
  auto r = replay::replay_upstream({.address = proxy::parse_address("unix:/nonexistent/app.sock"), .timeout = 2s},
                                   replay::upstream_request_for(capture()));
  EXPECT_EQ(r.how, replay::outcome::error);
  EXPECT_TRUE(r.error.starts_with("cannot connect to the app at unix:/nonexistent/app.sock: ")) << r.error;
  EXPECT_NE(r.error.find("hindsight status"), std::string::npos) << r.error;
}

TEST(UpstreamReplay, a_response_cut_short_is_an_error) {
  one_shot_server app("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this");
  auto r = replay::replay_upstream({.address = app.address(), .timeout = 5s}, replay::upstream_request_for(capture()));
  EXPECT_EQ(r.how, replay::outcome::error);
  EXPECT_NE(r.error.find("closed the connection before its response was complete"), std::string::npos) << r.error;
}
