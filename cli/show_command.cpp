#include "cli/show_command.hpp"

#include <unistd.h>

#include <boost/json.hpp>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "cli/capture_view.hpp"
#include "cli/json_output.hpp"
#include "cli/store_options.hpp"
#include "cli/text_encoding.hpp"
#include "store/queries.hpp"

namespace hindsight::cli {

void write_all(int fd, std::string_view bytes, std::string_view where) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("cannot write to " + std::string(where) + ": " + std::strerror(errno));
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void add_show_command(CLI::App& app, show_options& o) {
  auto* cmd = app.add_subcommand("show", "Show one captured exchange: request and response, secrets masked");
  add_data_option(*cmd, o.data);
  cmd->add_option("id", o.id, "The capture's id, as `hindsight list` shows it")->required();
  cmd->add_flag("--reveal", o.reveal, "Show credential headers (Authorization, Cookie, …) instead of masking them");
  auto* raw = cmd->add_flag("--raw", o.raw,
                            "Write the request's exact bytes, as they would be sent again, to stdout (unmasked; "
                            "framing rewritten to one Content-Length)");
  auto* json = cmd->add_flag("--json", o.json, "Print one JSON object (the fields are a stable interface)");
  raw->excludes(json);
  cmd->add_option("--body-limit", o.body_limit, "Bytes of a text body shown (0: all)")->capture_default_str();
  cmd->footer(
      "Examples:\n"
      "  hindsight show 42\n"
      "  hindsight show 42 --raw | nc -U .hindsight/app.sock   # send it to the app again");
}

store::stored_capture load_capture(const std::string& data_option, const std::string& id_text) {
  std::int64_t id = 0;
  auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (ec != std::errc{} || end != id_text.data() + id_text.size() || id <= 0)
    throw usage_error("invalid capture id '" + id_text + "': expected a number as `hindsight list` shows it");
  auto where = locate_store(data_option);
  const std::string dir = where.data.string();
  if (!where.database_exists())
    throw std::runtime_error("no capture " + id_text + " in " + dir + ": nothing has been captured there yet");
  store::reader reader(where.database);
  auto c = reader.get(id);
  if (c) return std::move(*c);
  auto summary = reader.summary();
  if (!summary.newest_us || summary.rows == 0)
    throw std::runtime_error("no capture " + std::to_string(id) + " in " + dir + " (the store is empty)");
  store::list_filter newest;
  newest.limit = 1;
  auto rows = reader.list(newest);
  std::string newest_id = rows.empty() ? std::string("?") : std::to_string(rows.front().id);
  bool past_newest = !rows.empty() && id > rows.front().id;
  throw std::runtime_error("no capture " + std::to_string(id) + " in " + dir + " (the newest is " + newest_id +
                           (past_newest ? ")" : "; it may have been pruned by retention)") +
                           ": `hindsight list` shows the captures there");
}

int show(const show_options& o) {
  return run_command([&]() -> int {
    show_settings settings;
    settings.reveal = o.reveal;
    settings.body_limit = static_cast<std::size_t>(size_option("--body-limit", o.body_limit));
    const auto c = load_capture(o.data, o.id);
    const auto id = c.id;

    if (o.raw) {
      // As curl does: binary bytes on a terminal garble it and show nothing useful.
      if (::isatty(STDOUT_FILENO) && !looks_like_text(c.request_body))
        throw std::runtime_error("capture " + std::to_string(id) + "'s request body is binary: redirect --raw to a file or a pipe "
                                 "(hindsight show " + std::to_string(id) + " --raw > request.http)");
      if (c.request_body_truncated || !c.request_complete)
        std::fprintf(stderr,
                     "hindsight: warning: capture %lld is not the whole request: %zu of %llu body bytes were stored%s\n",
                     static_cast<long long>(c.id), c.request_body.size(),
                     static_cast<unsigned long long>(c.request_body_size),
                     c.request_complete ? " (--capture-request-body)" : " (the client did not send it all)");
      // Scrubbed values are sent as "[redacted]": the app may answer differently.
      std::string scrubbed;
      for (auto& r : c.redacted)
        if (!r.starts_with("response-")) scrubbed += (scrubbed.empty() ? "" : ", ") + r;
      if (!scrubbed.empty())
        std::fprintf(stderr, "hindsight: warning: capture %lld has scrubbed values, sent as [redacted]: %s\n",
                     static_cast<long long>(c.id), scrubbed.c_str());
      std::fflush(stdout);
      write_all(STDOUT_FILENO, rebuild_request(c), "stdout");
      return 0;
    }
    std::string out = o.json ? to_json_text(capture_to_json(c, o.reveal)) + "\n" : capture_text(c, settings);
    std::fflush(stdout);
    write_all(STDOUT_FILENO, out, "stdout");
    return 0;
  });
}

}  // namespace hindsight::cli
