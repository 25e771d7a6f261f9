#include "proxy/address.hpp"

#include <charconv>

namespace hindsight::proxy {
namespace {

constexpr std::string_view forms = "unix:/path, HOST:PORT, tcp:HOST:PORT or [IPv6]:PORT";

[[noreturn]] void fail(std::string_view text, std::string_view why) {
  throw address_error("invalid address '" + std::string(text) + "': " + std::string(why) +
                      " (expected " + std::string(forms) + ")");
}

std::uint16_t parse_port(std::string_view whole, std::string_view digits) {
  if (digits.empty()) fail(whole, "the port is missing");
  unsigned value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || end != digits.data() + digits.size())
    fail(whole, "the port '" + std::string(digits) + "' is not a number");
  if (value == 0 || value > 65535) fail(whole, "the port must be between 1 and 65535");
  return static_cast<std::uint16_t>(value);
}

bool valid_host_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

}  // namespace

std::string address::to_string() const {
  if (is_unix()) return "unix:" + path;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

address parse_address(std::string_view text) {
  address a;
  std::string_view rest = text;
  if (rest.starts_with("unix:")) {
    a.kind = address::family::unix_socket;
    a.path = std::string(rest.substr(5));
    if (a.path.empty()) fail(text, "the socket path is empty");
    // sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
    if (a.path.size() > 107)
      fail(text, "a unix socket path is limited to 107 bytes; use a shorter directory");
    return a;
  }
  if (rest.starts_with("tcp:")) rest.remove_prefix(4);
  if (rest.starts_with("[")) {
    auto close = rest.find(']');
    if (close == std::string_view::npos) fail(text, "'[' without a closing ']'");
    a.host = std::string(rest.substr(1, close - 1));
    if (a.host.empty() || a.host.find_first_not_of("0123456789abcdefABCDEF:.%") != std::string::npos)
      fail(text, "'" + a.host + "' is not an IPv6 address");
    rest.remove_prefix(close + 1);
    if (!rest.starts_with(":")) fail(text, "the port is missing after ']'");
    a.port = parse_port(text, rest.substr(1));
    return a;
  }
  auto colon = rest.rfind(':');
  if (colon == std::string_view::npos) fail(text, "the port is missing");
  a.host = std::string(rest.substr(0, colon));
  if (a.host.empty()) fail(text, "the host is missing (use 0.0.0.0 for every interface)");
  if (a.host.find(':') != std::string::npos) fail(text, "write an IPv6 address in brackets");
  for (char c : a.host)
    if (!valid_host_char(c)) fail(text, "'" + a.host + "' is not a host name or IPv4 address");
  a.port = parse_port(text, rest.substr(colon + 1));
  return a;
}

address default_listen_address(const char* socket_env, const char* port_env) {
  if (socket_env && *socket_env) return parse_address(std::string("unix:") + socket_env);
  if (port_env && *port_env) return parse_address(std::string("127.0.0.1:") + port_env);
  return parse_address("127.0.0.1:8000");
}

}  // namespace hindsight::proxy
