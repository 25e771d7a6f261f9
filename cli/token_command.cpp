#include "cli/token_command.hpp"

#include <boost/json.hpp>

#include <cstdio>

#include "cli/control_client.hpp"
#include "cli/data_dir.hpp"
#include "cli/duration.hpp"
#include "cli/json_output.hpp"
#include "cli/store_options.hpp"
#include "cli/time_format.hpp"
#include "proxy/address.hpp"
#include "proxy/token.hpp"

namespace hindsight::cli {
namespace {

// Long enough for a working day, short enough that a leaked token goes stale.
constexpr auto max_ttl = std::chrono::hours(24 * 7);

// Single-quoted for a POSIX shell.
std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

struct where_to_send {
  std::string base;         // http://127.0.0.1:8000, or a placeholder
  std::string curl_prefix;  // "curl " or "curl --unix-socket PATH "
  bool placeholder = true;
  std::string note;
};

// The running proxy's public address, from its control socket.
where_to_send target(const std::string& data_dir) {
  where_to_send w{"https://YOUR-SITE", "curl ", true,
                  "no proxy answers on this data directory: replace https://YOUR-SITE with the site's address "
                  "(`platform url` or `upsun url` prints it)"};
  auto answer = ask_proxy(std::filesystem::path(data_dir) / "control.sock", "status");
  if (answer.status != control_answer::state::running) return w;
  auto* listen = answer.reply.if_contains("listen");
  if (!listen || !listen->is_string()) return w;
  proxy::address a;
  try {
    a = proxy::parse_address(std::string(listen->as_string()));
  } catch (const std::exception&) {
    return w;
  }
  if (a.is_unix()) {
    // The router's socket ($SOCKET): curl reaches it on this machine; a browser needs the site's address.
    w.curl_prefix = "curl --unix-socket " + shell_quote(a.path) + " ";
    w.base = "http://localhost";
    w.note = "the proxy listens on " + a.path + " (the router's socket): for a browser, replace http://localhost "
             "with the site's address (`platform url` or `upsun url` prints it)";
    return w;
  }
  w.base = "http://" + a.to_string();
  w.placeholder = false;
  w.note.clear();
  return w;
}

}  // namespace

void add_token_command(CLI::App& app, token_options& o) {
  auto* cmd = app.add_subcommand("token", "Print a signed, expiring debug token, with a curl line and a URL that carry it");
  add_data_option(*cmd, o.data);
  cmd->add_option("--ttl", o.ttl, "How long it is valid, e.g. 30m, 8h (at most 7 days)")->capture_default_str();
  cmd->add_flag("--json", o.json, "Print JSON: token, issued, expires, curl, url");
  cmd->footer(
      "A request carries the token as the X-Hindsight-Token header, the hindsight_debug cookie, or once as the\n"
      "hindsight_token query parameter (the proxy then sets the cookie). The proxy removes it before the app\n"
      "sees the request. Debug rules (`hindsight rules add --do pdb ...`) fire only for requests with a valid token.");
}

int token(const token_options& o) {
  return run_command([&]() -> int {
    std::chrono::milliseconds ttl;
    try {
      ttl = parse_duration(o.ttl);
    } catch (const std::invalid_argument& e) {
      throw usage_error(std::string("--ttl: ") + e.what());
    }
    if (ttl.count() < 1000 || ttl > max_ttl) throw usage_error("--ttl must be between 1s and 7 days");
    auto dir = data_dir_for_cli(o.data);
    auto secret = proxy::load_or_create_secret(dir);
    const auto now_s = now_us() / 1'000'000;
    const auto expires_s = now_s + std::chrono::duration_cast<std::chrono::seconds>(ttl).count();
    auto token = proxy::sign_token(secret, now_s, expires_s);
    auto w = target(dir);
    auto curl = w.curl_prefix + "-H " + shell_quote(std::string(proxy::token_header) + ": " + token) + " " +
                shell_quote(w.base + "/");
    auto url = w.base + "/?" + std::string(proxy::token_query) + "=" + token;
    if (o.json) {
      boost::json::object out{{"token", token},
                              {"issued", iso8601_ms(now_s * 1'000'000)},
                              {"expires", iso8601_ms(expires_s * 1'000'000)},
                              {"curl", curl},
                              {"url", url},
                              {"url_is_placeholder", w.placeholder},
                              {"header", proxy::token_header},
                              {"cookie", proxy::token_cookie},
                              {"query", proxy::token_query}};
      std::printf("%s\n", to_json_text(out).c_str());
      return 0;
    }
    std::printf("%s\n\nvalid until %s\n\n", token.c_str(), iso8601_seconds(expires_s * 1'000'000).c_str());
    std::printf("with curl (add the path and query you want):\n  %s\n\n", curl.c_str());
    std::printf("in a browser, once (the proxy then keeps it in the hindsight_debug cookie):\n  %s\n", url.c_str());
    if (!w.note.empty()) std::printf("\n(%s)\n", w.note.c_str());
    return 0;
  });
}

}  // namespace hindsight::cli
