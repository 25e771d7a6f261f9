#pragma once
// Network addresses as users write them on the command line: unix:/path, HOST:PORT,
// tcp:HOST:PORT, [v6]:PORT.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace hindsight::proxy {

struct address {
  enum class family { unix_socket, tcp };
  family kind = family::tcp;
  std::string path;  // unix_socket
  std::string host;  // tcp: a name or a literal, without brackets
  std::uint16_t port = 0;

  bool is_unix() const { return kind == family::unix_socket; }
  // The canonical spelling, accepted back by parse_address: unix:/p, h:p or [v6]:p.
  std::string to_string() const;
  bool operator==(const address&) const = default;
};

struct address_error : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// Throws address_error with a message that names the input and the accepted forms.
address parse_address(std::string_view text);

// --listen's default, as Platform.sh and Upsun hand the app its address:
// unix:$SOCKET when SOCKET is set, else 127.0.0.1:$PORT, else 127.0.0.1:8000.
address default_listen_address(const char* socket_env, const char* port_env);

}  // namespace hindsight::proxy
