#include "proxy/address.hpp"

#include <gtest/gtest.h>

using namespace hindsight::proxy;

TEST(Address, parses_unix_sockets) {
  auto a = parse_address("unix:/run/app.sock");
  EXPECT_TRUE(a.is_unix());
  EXPECT_EQ(a.path, "/run/app.sock");
  EXPECT_EQ(a.to_string(), "unix:/run/app.sock");
}

TEST(Address, parses_host_port_forms) {
  auto a = parse_address("127.0.0.1:8000");
  EXPECT_FALSE(a.is_unix());
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 8000);
  EXPECT_EQ(parse_address("tcp:localhost:80").host, "localhost");
  auto v6 = parse_address("[::1]:9000");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 9000);
  EXPECT_EQ(v6.to_string(), "[::1]:9000");
  EXPECT_EQ(parse_address("tcp:[::]:1").to_string(), "[::]:1");
}

TEST(Address, refuses_malformed_addresses_with_a_reason) {
  for (auto bad : {"", "unix:", "8000", "host:", ":8000", "host:0", "host:65536", "host:80x", "::1:80", "[::1]80",
                   "[::1", "ho st:80", "[zz]:80"}) {
    EXPECT_THROW(parse_address(bad), address_error) << bad;
  }
  try {
    parse_address("localhost:99999");
    FAIL();
  } catch (const address_error& e) {
    EXPECT_NE(std::string(e.what()).find("between 1 and 65535"), std::string::npos);
  }
}

TEST(Address, refuses_unix_paths_longer_than_sun_path) {
  EXPECT_THROW(parse_address("unix:/" + std::string(107, 'a')), address_error);
  EXPECT_NO_THROW(parse_address("unix:/" + std::string(106, 'a')));
}

TEST(Address, default_listen_follows_platform_sh_variables) {
  EXPECT_EQ(default_listen_address("/run/app.sock", "8888").to_string(), "unix:/run/app.sock");
  EXPECT_EQ(default_listen_address(nullptr, "8888").to_string(), "127.0.0.1:8888");
  EXPECT_EQ(default_listen_address("", "").to_string(), "127.0.0.1:8000");
  EXPECT_EQ(default_listen_address(nullptr, nullptr).to_string(), "127.0.0.1:8000");
}
