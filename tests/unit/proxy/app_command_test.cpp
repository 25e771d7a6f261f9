#include "proxy/app_command.hpp"

#include <gtest/gtest.h>

using namespace hindsight::proxy;

namespace {
const address inner_unix = parse_address("unix:/data/.hindsight/app.sock");
}

TEST(AppCommand, rewrites_an_expanded_socket_argument) {
  auto cmd = prepare_app_command({"gunicorn", "-w", "4", "-b", "unix:/run/app.sock", "myapp.wsgi"},
                                 parse_address("unix:/run/app.sock"), inner_unix);
  EXPECT_EQ(cmd.argv[4], "unix:/data/.hindsight/app.sock");
  EXPECT_EQ(cmd.argv[0], "gunicorn");
  EXPECT_EQ(cmd.argv[5], "myapp.wsgi");
  ASSERT_EQ(cmd.env.size(), 1u);
  EXPECT_EQ(cmd.env[0], (std::pair<std::string, std::string>{"SOCKET", "/data/.hindsight/app.sock"}));
  EXPECT_EQ(cmd.rewrites.size(), 1u);
}

TEST(AppCommand, does_not_rewrite_the_replacement_when_it_extends_the_public_path) {
  auto inner = parse_address("unix:/run/app.sock.d/app.sock");
  auto cmd = prepare_app_command({"gunicorn", "--bind=unix:/run/app.sock"}, parse_address("unix:/run/app.sock"), inner);
  EXPECT_EQ(cmd.argv[1], "--bind=unix:/run/app.sock.d/app.sock");
}

TEST(AppCommand, rewrites_tcp_bind_forms_with_the_public_port) {
  auto listen = parse_address("127.0.0.1:8000");
  auto cmd = prepare_app_command({"gunicorn", "-b", "0.0.0.0:8000", "--bind=localhost:8000", "-b[::]:8000", ":8000",
                                  "tcp:127.0.0.1:8000", "127.0.0.1:9000", "--workers=8000", "app:app"},
                                 listen, inner_unix);
  const std::string want = "unix:/data/.hindsight/app.sock";
  EXPECT_EQ(cmd.argv[2], want);
  EXPECT_EQ(cmd.argv[3], "--bind=" + want);
  EXPECT_EQ(cmd.argv[4], "-b" + want);
  EXPECT_EQ(cmd.argv[5], want);
  EXPECT_EQ(cmd.argv[6], want);
  EXPECT_EQ(cmd.argv[7], "127.0.0.1:9000");  // another port: left alone
  EXPECT_EQ(cmd.argv[8], "--workers=8000");  // not an address
  EXPECT_EQ(cmd.argv[9], "app:app");
}

TEST(AppCommand, rewrites_a_lone_port_for_an_inner_tcp_address) {
  auto cmd = prepare_app_command({"uvicorn", "--port", "8000", "main:app"}, parse_address("127.0.0.1:8000"),
                                 parse_address("127.0.0.1:40123"));
  EXPECT_EQ(cmd.argv[2], "40123");
  EXPECT_EQ(cmd.env[0], (std::pair<std::string, std::string>{"PORT", "40123"}));
}

TEST(AppCommand, leaves_a_command_that_names_no_address_unchanged) {
  std::vector<std::string> argv{"sh", "-c", "exec gunicorn -b unix:$SOCKET app:app"};
  auto cmd = prepare_app_command(argv, parse_address("unix:/run/app.sock"), inner_unix);
  EXPECT_EQ(cmd.argv, argv);
  EXPECT_TRUE(cmd.rewrites.empty());
}
