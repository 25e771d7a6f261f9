#include "proxy/app_command.hpp"

namespace hindsight::proxy {
namespace {

// Whether `text` is an address (in any spelling parse_address takes) with `port`.
bool names_port(std::string_view text, std::uint16_t port) {
  if (text.starts_with("unix:")) return false;
  try {
    auto a = parse_address(text);
    return a.port == port;
  } catch (const address_error&) {
    // gunicorn also takes ":PORT" for every interface.
    return text.starts_with(":") && text.substr(1) == std::to_string(port);
  }
}

}  // namespace

app_command prepare_app_command(const std::vector<std::string>& argv, const address& listen, const address& inner) {
  app_command cmd;
  cmd.argv = argv;
  if (inner.is_unix()) cmd.env.emplace_back("SOCKET", inner.path);
  else cmd.env.emplace_back("PORT", std::to_string(inner.port));

  const std::string replacement = inner.to_string();  // as gunicorn's --bind takes it
  for (std::size_t i = 1; i < cmd.argv.size(); ++i) {
    auto& arg = cmd.argv[i];
    std::string before = arg;
    if (listen.is_unix()) {
      // One pass, so that a replacement is never searched again: unix:PATH becomes the
      // inner address in its own spelling; a bare PATH becomes the inner path when the
      // inner address is a socket too.
      std::string out;
      std::size_t pos = 0;
      for (auto found = arg.find(listen.path); found != std::string::npos; found = arg.find(listen.path, pos)) {
        bool has_scheme = found >= 5 && arg.compare(found - 5, 5, "unix:") == 0;
        out.append(arg, pos, found - pos);
        if (inner.is_unix()) {
          out += inner.path;
        } else if (has_scheme) {
          out.resize(out.size() - 5);
          out += replacement;
        } else {
          out += listen.path;
        }
        pos = found + listen.path.size();
      }
      out.append(arg, pos);
      arg = std::move(out);
    } else {
      auto rewrite_value = [&](std::size_t value_start) {
        if (names_port(std::string_view(arg).substr(value_start), listen.port)) arg.replace(value_start, std::string::npos, replacement);
      };
      if (arg.starts_with("--") && arg.find('=') != std::string::npos) rewrite_value(arg.find('=') + 1);
      else if (arg.starts_with("-b") && arg.size() > 2) rewrite_value(2);
      else if (!arg.starts_with("-")) rewrite_value(0);
      // uvicorn and the like: --port 8000
      if ((cmd.argv[i - 1] == "--port" || cmd.argv[i - 1] == "-p") && arg == std::to_string(listen.port) && !inner.is_unix())
        arg = std::to_string(inner.port);
    }
    if (arg != before) cmd.rewrites.push_back("'" + before + "' → '" + arg + "'");
  }
  return cmd;
}

}  // namespace hindsight::proxy
