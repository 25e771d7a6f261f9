#include "cli/show_command.hpp"

#include <unistd.h>

#include <boost/json.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <span>

#include "cli/capture_view.hpp"
#include "cli/json_output.hpp"
#include "cli/store_options.hpp"
#include "cli/text_encoding.hpp"
#include "cli/text_table.hpp"
#include "cli/time_format.hpp"
#include "replay/result_view.hpp"
#include "replay/traceback_page.hpp"
#include "store/queries.hpp"
#include "store/replays.hpp"
#include "store/schema.hpp"

namespace hindsight::cli {

void write_all(int fd, std::string_view bytes, std::string_view where) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("cannot write to " + std::string(where) + ": " + std::strerror(errno));
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

namespace {

namespace json = boost::json;

// The replays of a capture, newest first; none from a file older than the replays table.
std::vector<store::replay_record> replays_of(const std::filesystem::path& database, std::int64_t capture_id) {
  store::sqlite::database db(database, store::sqlite::open_mode::read_only);
  if (store::schema_version(db) < 2) return {};
  return store::list_replays(db, capture_id, 0);
}

json::object replay_summary_json(const store::replay_record& r) {
  json::value exception_type = nullptr;
  if (!r.exception_json.empty()) {
    boost::system::error_code ec;
    auto model = json::parse(r.exception_json, ec);
    if (!ec && model.is_object())
      if (auto* t = model.as_object().if_contains("type")) exception_type = *t;
  }
  return {{"id", r.id},
          {"time", iso8601_ms(r.time_us)},
          {"mode", r.mode},
          {"outcome", r.outcome},
          {"status", r.status ? json::value(*r.status) : json::value(nullptr)},
          {"exception_type", std::move(exception_type)},
          {"duration_ms", r.duration_ms},
          {"trigger", r.trigger.empty() ? json::value(nullptr) : json::value(r.trigger)}};
}

// What a replay's row says in the MODE column: its mode, or for a live debug session the
// rule that sent the request to it.
std::string mode_text(const store::replay_record& r) {
  return r.trigger.empty() ? escape_controls(r.mode) : "live (rule '" + escape_controls(utf8_or_latin1(r.trigger)) + "')";
}

// The bytes a live debug session's terminal showed, for a terminal: its escape sequences
// (colours, cursor moves, bracketed paste) written out as \xNN rather than run again.
std::string transcript_text(const store::replay_record& r) {
  if (r.transcript.empty()) return "";
  std::string out = "\n--- the debug session's terminal (" + std::to_string(r.transcript.size()) +
                    " bytes: the app's output and the echo of what was typed) ---\n";
  out += escape_controls(utf8_or_latin1(r.transcript));
  if (out.back() != '\n') out += '\n';
  return out;
}

std::string replays_text(std::int64_t capture_id, const std::vector<store::replay_record>& replays) {
  if (replays.empty()) return "\nNot replayed yet: hindsight replay " + std::to_string(capture_id) + "\n";
  text_table table({{"REPLAY", text_table::align::right},
                    {"TIME"},
                    {"MODE"},
                    {"STATUS", text_table::align::right},
                    {"OUTCOME"},
                    {"EXCEPTION"}});
  constexpr std::size_t shown = 10;
  for (const auto& r : std::span(replays).first(std::min(shown, replays.size()))) {
    auto summary = replay_summary_json(r);
    auto& type = summary.at("exception_type");
    table.add_row({std::to_string(r.id), iso8601_seconds(r.time_us), mode_text(r),
                   r.status ? std::to_string(*r.status) : "-", r.outcome,
                   type.is_string() ? escape_controls(type.as_string()) : "-"});
  }
  std::string older = replays.size() > shown
                          ? "(" + std::to_string(replays.size() - shown) + " older replays not shown; --json lists all)\n"
                          : "";
  bool live = std::any_of(replays.begin(), replays.end(), [](const auto& r) { return !r.trigger.empty(); });
  return std::string(live ? "\nReplays and live debug sessions" : "\nReplays") + " (newest first; hindsight show " +
         std::to_string(capture_id) + " --replay N shows one):\n" + table.render() + older;
}

}  // namespace

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
  auto* replay = cmd->add_option("--replay", o.replay,
                                 "Show stored replay N of this capture (as `hindsight replay` printed it) instead")
                     ->check(CLI::PositiveNumber);
  replay->excludes(raw);
  auto* html = cmd->add_flag("--html", o.html,
                             "With --replay: write its traceback as a self-contained HTML page (no script) to stdout");
  html->needs(replay)->excludes(json);
  cmd->add_option("--body-limit", o.body_limit, "Bytes of a text body shown (0: all)")->capture_default_str();
  cmd->footer(
      "Examples:\n"
      "  hindsight show 42\n"
      "  hindsight show 42 --replay 7                          # replay 7 of capture 42, traceback included\n"
      "  hindsight show 42 --replay 7 --html > tb.html         # its traceback as a page for a browser\n"
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
    auto replays = replays_of(locate_store(o.data).database, id);
    if (o.replay) {
      auto row = std::find_if(replays.begin(), replays.end(), [&](const auto& r) { return r.id == o.replay; });
      if (row == replays.end())
        throw std::runtime_error("capture " + std::to_string(id) + " has no replay " + std::to_string(o.replay) +
                                 (replays.empty() ? std::string(" (it was never replayed: hindsight replay ") +
                                                        std::to_string(id) + ")"
                                                  : " (`hindsight show " + std::to_string(id) + "` lists its replays)"));
      auto result = replay::result_from_record(*row);
      std::string out;
      if (o.html) {
        if (!result.exception.is_object())
          throw std::runtime_error("replay " + std::to_string(row->id) + " of capture " + std::to_string(id) +
                                   " raised no exception: there is no traceback to show");
        replay::page_context context;
        context.request_line = c.method + " " + c.target + (c.version == 10 ? " HTTP/1.0" : " HTTP/1.1");
        context.origin = "capture " + std::to_string(id) + " (" + iso8601_seconds(c.time_us) + "), replay " +
                         std::to_string(row->id) + " (" + iso8601_seconds(row->time_us) + ", app " + row->app_spec + ")";
        out = replay::traceback_page(result.exception.as_object(), context);
      } else if (o.json) {
        auto obj = replay::result_to_json(result);
        obj["time"] = iso8601_ms(row->time_us);
        obj["mode"] = row->mode;
        obj["app"] = row->app_spec;
        obj["trigger"] = row->trigger.empty() ? json::value(nullptr) : json::value(row->trigger);
        // Each byte as the code point of its value, as strings from the wire are.
        obj["transcript"] = row->transcript.empty() ? json::value(nullptr) : json::value(latin1_to_utf8(row->transcript));
        out = to_json_text(obj) + "\n";
      } else {
        out = "(" + std::string(row->trigger.empty() ? "stored " : "live debug session ") + iso8601_seconds(row->time_us) +
              "; mode " + escape_controls(row->mode) + "; app " + escape_controls(utf8_or_latin1(row->app_spec)) + ")\n" +
              replay::result_text(result, settings.body_limit);
        if (result.how != replay::outcome::completed) out += "not completed: " + escape_controls(result.error) + "\n";
        out += transcript_text(*row);
      }
      std::fflush(stdout);
      write_all(STDOUT_FILENO, out, "stdout");
      return 0;
    }

    std::string out;
    if (o.json) {
      auto obj = capture_to_json(c, o.reveal);
      json::array listed;
      for (const auto& r : replays) listed.push_back(replay_summary_json(r));
      obj["replays"] = std::move(listed);
      out = to_json_text(obj) + "\n";
    } else {
      out = capture_text(c, settings) + replays_text(id, replays);
    }
    std::fflush(stdout);
    write_all(STDOUT_FILENO, out, "stdout");
    return 0;
  });
}

}  // namespace hindsight::cli
