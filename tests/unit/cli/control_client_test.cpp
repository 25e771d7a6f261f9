#include "cli/control_client.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace hindsight::cli;
using state = control_answer::state;

namespace {

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "hindsight-ctl-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~temp_dir() { std::filesystem::remove_all(path); }
};

// A listening unix socket at `path`; returns its descriptor.
int listen_at(const std::filesystem::path& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  EXPECT_EQ(::listen(fd, 4), 0);
  return fd;
}

// Reads the client's request line, as the real control server does before it answers:
// a server that closes first makes the client's write fail (EPIPE) under load.
void read_request(int c) {
  std::string line;
  char ch;
  while (line.find('\n') == std::string::npos && ::read(c, &ch, 1) == 1) line += ch;
}

}  // namespace

TEST(ControlClient, no_socket_means_no_proxy) {
  temp_dir d;
  auto a = ask_proxy(d.path / "control.sock", "status");
  EXPECT_EQ(a.status, state::not_running);
  EXPECT_NE(a.problem.find("no control socket"), std::string::npos) << a.problem;
}

TEST(ControlClient, a_stale_socket_file_means_no_proxy) {
  temp_dir d;
  auto path = d.path / "control.sock";
  ::close(listen_at(path));  // bound, then its owner is gone: the file stays
  ASSERT_TRUE(std::filesystem::exists(path));
  auto a = ask_proxy(path, "status");
  EXPECT_EQ(a.status, state::not_running);
  EXPECT_NE(a.problem.find("nobody listens"), std::string::npos) << a.problem;
  // A plain file where the socket should be reads the same.
  std::filesystem::remove(path);
  std::ofstream(path) << "x";
  EXPECT_EQ(ask_proxy(path, "status").status, state::not_running);
}

TEST(ControlClient, reads_one_json_line) {
  temp_dir d;
  auto path = d.path / "control.sock";
  int fd = listen_at(path);
  std::string asked;
  std::thread server([&] {
    int c = ::accept(fd, nullptr, nullptr);
    char buf[256];
    auto n = ::read(c, buf, sizeof buf);
    asked.assign(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    std::string reply = "{\"pid\":123,\"retention\":{\"rows\":10}}\n";
    (void)!::write(c, reply.data(), reply.size());
    ::close(c);
  });
  auto a = ask_proxy(path, "status");
  server.join();
  ::close(fd);
  EXPECT_EQ(asked, "{\"command\":\"status\"}\n");
  ASSERT_EQ(a.status, state::running) << a.problem;
  EXPECT_EQ(a.reply.at("pid").as_int64(), 123);
}

TEST(ControlClient, a_proxy_that_never_answers_is_reported_within_the_timeout) {
  temp_dir d;
  auto path = d.path / "control.sock";
  int fd = listen_at(path);  // accepts (the backlog) but never replies
  auto start = std::chrono::steady_clock::now();
  auto a = ask_proxy(path, "status", std::chrono::milliseconds(300));
  auto took = std::chrono::steady_clock::now() - start;
  ::close(fd);
  EXPECT_EQ(a.status, state::unreachable);
  EXPECT_NE(a.problem.find("no reply"), std::string::npos) << a.problem;
  EXPECT_LT(took, std::chrono::seconds(2));
}

TEST(ControlClient, a_garbled_reply_is_reported) {
  temp_dir d;
  auto path = d.path / "control.sock";
  int fd = listen_at(path);
  std::thread server([&] {
    int c = ::accept(fd, nullptr, nullptr);
    read_request(c);
    (void)!::write(c, "hello\n", 6);
    ::close(c);
  });
  auto a = ask_proxy(path, "status");
  server.join();
  ::close(fd);
  EXPECT_EQ(a.status, state::unreachable);
  EXPECT_NE(a.problem.find("not a JSON object"), std::string::npos) << a.problem;
}

TEST(ControlClient, reaches_a_socket_whose_path_is_too_long_for_sun_path) {
  temp_dir d;
  auto deep = d.path / std::string(60, 'a') / std::string(60, 'b');
  std::filesystem::create_directories(deep);
  auto path = deep / "control.sock";
  // Bind through the directory, as a server would.
  auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(deep);
  int fd = listen_at("control.sock");
  std::filesystem::current_path(cwd);
  std::thread server([&] {
    int c = ::accept(fd, nullptr, nullptr);
    read_request(c);
    (void)!::write(c, "{}\n", 3);
    ::close(c);
  });
  auto a = ask_proxy(path, "status");
  server.join();
  ::close(fd);
  EXPECT_EQ(a.status, state::running) << a.problem;
}
