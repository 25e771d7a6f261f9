#pragma once
// How the supervised app is told where to listen. hindsight holds the public address
// itself, so the app must listen on an inner one instead. The environment carries it
// (SOCKET, PORT), but a start command such as `gunicorn -b unix:$SOCKET app.wsgi` has
// already been expanded by the shell before hindsight sees it: so every argument that
// names the public address is rewritten to name the inner one too.
#include <string>
#include <utility>
#include <vector>

#include "proxy/address.hpp"

namespace hindsight::proxy {

struct app_command {
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;  // variables to set for the app
  std::vector<std::string> rewrites;                     // "'a' → 'b'", for the log
};

// `inner` is where the app must listen. Rewrites, in arguments after argv[0]:
// * a unix listen path: every occurrence of the path (so unix:$SOCKET keeps working);
// * a TCP listen port: HOST:PORT, tcp:HOST:PORT, [v6]:PORT, --bind=..., -b... forms with
//   that port, and a lone PORT after --port or -p.
app_command prepare_app_command(const std::vector<std::string>& argv, const address& listen, const address& inner);

}  // namespace hindsight::proxy
