#include "replay/app_spec.hpp"

#include <algorithm>
#include <filesystem>
#include <set>

namespace hindsight::replay {
namespace {

std::string base_name(std::string_view path) {
  auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

bool is_python(std::string_view program) {
  auto name = base_name(program);
  return name.rfind("python", 0) == 0;
}

std::string absolute_in(std::string_view dir, std::string_view path) {
  if (path.empty()) return std::string(dir);
  std::filesystem::path p(path);
  if (p.is_absolute() || dir.empty()) return p.lexically_normal().string();
  return (std::filesystem::path(dir) / p).lexically_normal().string();
}

// gunicorn options that take a value (the ones a start command uses; an unknown option
// followed by a value would otherwise make the value look like the app spec). Options
// whose value is attached (`--opt=X`, `-wX`) need no entry.
const std::set<std::string_view> options_with_value = {
    "-b", "--bind", "-w", "--workers", "-k", "--worker-class", "--threads", "--worker-connections",
    "-t", "--timeout", "--graceful-timeout", "--keep-alive", "--max-requests", "--max-requests-jitter",
    "--limit-request-line", "--limit-request-fields", "--limit-request-field_size", "--backlog",
    "--chdir", "--pythonpath", "-e", "--env", "-c", "--config", "-n", "--name", "-u", "--user", "-g", "--group",
    "-m", "--umask", "--worker-tmp-dir", "--log-level", "--log-file", "--error-logfile", "--access-logfile",
    "--access-logformat", "--log-config", "--log-config-json", "--log-syslog-to", "--log-syslog-prefix",
    "--log-syslog-facility", "--logger-class", "--statsd-host", "--statsd-prefix", "--dogstatsd-tags",
    "-p", "--pid", "--forwarded-allow-ips", "--proxy-allow-from", "--proxy-protocol-allow-from", "--keyfile",
    "--certfile", "--ssl-version", "--cert-reqs", "--ca-certs", "--ciphers", "--paste", "--paster",
    "-R", "--reload-engine", "--reload-extra-file", "--check-config-file", "--capture-output", "--initgroups",
    "--worker-abort", "--threads", "--max-requests", "--server-header", "--header-map", "--raw-env",
    "--spew", "--suppress-ragged-eofs", "--do-handshake-on-connect", "--statsd-tls", "-D", "--daemon"};

// Flags among the above that take no value after all.
const std::set<std::string_view> flags = {"--capture-output", "--initgroups", "--spew", "--suppress-ragged-eofs",
                                          "--do-handshake-on-connect", "-D", "--daemon", "--check-config-file",
                                          "-R"};

}  // namespace

inferred_app infer_from_command(const std::vector<std::string>& argv, std::string_view cwd) {
  inferred_app out;
  if (argv.empty()) {
    out.problem = "the proxy supervises no command";
    return out;
  }
  std::size_t i = 1;
  if (base_name(argv[0]).rfind("gunicorn", 0) == 0) {
    i = 1;
  } else if (is_python(argv[0])) {
    // python [-u -O …] -m gunicorn ARGS
    while (i < argv.size() && argv[i] != "-m" && argv[i].rfind("-", 0) == 0) ++i;
    if (i + 1 < argv.size() && argv[i] == "-m" && argv[i + 1] == "gunicorn") {
      i += 2;
    } else {
      out.problem = "the supervised command '" + argv[0] + "' does not run gunicorn";
      return out;
    }
  } else {
    out.problem = "the supervised command '" + argv[0] + "' is not gunicorn";
    return out;
  }

  std::string chdir;
  std::vector<std::string> pythonpath;
  std::string config;
  std::vector<std::string> positional;
  auto value_of = [&](std::string_view arg, std::string_view longname, std::string_view shortname,
                      std::string& value) -> int {
    // Returns how many arguments the option took (0: not this option).
    if (arg == longname || (!shortname.empty() && arg == shortname)) {
      if (i + 1 >= argv.size()) return 0;
      value = argv[i + 1];
      return 2;
    }
    if (arg.size() > longname.size() && arg.substr(0, longname.size()) == longname && arg[longname.size()] == '=') {
      value = std::string(arg.substr(longname.size() + 1));
      return 1;
    }
    if (!shortname.empty() && arg.size() > shortname.size() && arg.substr(0, shortname.size()) == shortname &&
        shortname.size() == 2) {
      value = std::string(arg.substr(2));
      return 1;
    }
    return 0;
  };
  while (i < argv.size()) {
    std::string_view arg = argv[i];
    std::string value;
    int took = 0;
    if (arg == "--") {
      for (++i; i < argv.size(); ++i) positional.push_back(argv[i]);
      break;
    }
    if ((took = value_of(arg, "--chdir", "", value))) {
      chdir = value;
    } else if ((took = value_of(arg, "--pythonpath", "", value))) {
      std::size_t start = 0;
      while (start <= value.size()) {
        auto comma = value.find(',', start);
        auto part = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!part.empty()) pythonpath.push_back(part);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else if ((took = value_of(arg, "--env", "-e", value))) {
      auto eq = value.find('=');
      if (eq != std::string::npos && eq > 0) out.spec.env.emplace_back(value.substr(0, eq), value.substr(eq + 1));
    } else if ((took = value_of(arg, "--config", "-c", value))) {
      config = value;
    } else if (arg.size() > 1 && arg[0] == '-') {
      // Some other option: skip its value when it takes one as the next argument.
      took = 1;
      if (arg.find('=') == std::string_view::npos && options_with_value.count(arg) && !flags.count(arg)) took = 2;
    } else {
      positional.push_back(std::string(arg));
      took = 1;
    }
    i += static_cast<std::size_t>(took);
  }

  if (positional.empty()) {
    out.problem = config.empty()
                      ? "the gunicorn command names no app (module:attribute)"
                      : "the gunicorn command takes its app from the config file '" + config + "', which hindsight does not read";
    return out;
  }
  out.found = true;
  out.spec.app = positional.back();
  out.spec.chdir = absolute_in(cwd, chdir);
  for (auto& p : pythonpath) out.spec.pythonpath.push_back(absolute_in(out.spec.chdir, p));
  return out;
}

}  // namespace hindsight::replay
