#include "replay/result_view.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <cstdio>

#include "cli/capture_view.hpp"
#include "cli/text_encoding.hpp"
#include "replay/model_fields.hpp"
#include "store/replays.hpp"

namespace hindsight::replay {
namespace {

namespace json = boost::json;

using fields::array;
using fields::boolean;
using fields::integer;
using fields::str;

// Text from the app, for a terminal.
std::string shown(std::string_view utf8) { return cli::escape_controls(cli::utf8_or_latin1(utf8)); }

// "KeyError: 'EU-X'", "json.decoder.JSONDecodeError: Expecting value: …", as Python's
// traceback module names a type: qualified unless it is a builtin.
std::string exception_line(const json::object& e) {
  std::string message = str(e, "message");
  std::string out = shown(fields::exception_name(e));
  if (!message.empty()) out += ": " + shown(message);
  out += "\n";
  if (auto* notes = array(e, "notes"))
    for (const auto& n : *notes)
      if (auto* s = n.if_string()) out += shown(*s) + "\n";
  return out;
}

void frames_text(const json::object& e, std::string& out) {
  auto* frames = array(e, "frames");
  if (!frames || frames->empty()) return;
  out += "Traceback (most recent call last):\n";
  for (const auto& fv : *frames) {
    auto* f = fv.if_object();
    if (!f) continue;
    auto line = integer(*f, "line");
    out += "  File \"" + shown(str(*f, "file")) + "\", line " + std::to_string(line) + ", in " +
           shown(str(*f, "function")) + "\n";
    if (auto* source = array(*f, "source")) {
      for (const auto& entry : *source) {
        auto* pair = entry.if_array();
        if (!pair || pair->size() != 2 || !(*pair)[1].is_string()) continue;
        std::int64_t number = (*pair)[0].is_int64() ? (*pair)[0].as_int64() : 0;
        if (number != line) continue;
        std::string_view text = (*pair)[1].as_string();
        while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
        if (!text.empty()) out += "    " + shown(text) + "\n";
      }
    }
    if (boolean(*f, "app")) {
      if (auto* locals = f->if_contains("locals"); locals && locals->is_object()) {
        for (const auto& [name, value] : locals->as_object()) {
          std::string repr = value.is_string() ? std::string(value.as_string()) : json::serialize(value);
          out += "      " + shown(name) + " = " + shown(repr) + "\n";
        }
      }
    }
  }
}

}  // namespace

std::string_view to_string(outcome o) {
  switch (o) {
    case outcome::completed: return "completed";
    case outcome::timeout: return "timeout";
    case outcome::crashed: return "crashed";
    case outcome::error: return "error";
  }
  return "error";
}

std::optional<status_line> parse_status(std::string_view text) {
  if (text.size() < 3) return std::nullopt;
  status_line s;
  auto [end, ec] = std::from_chars(text.data(), text.data() + 3, s.code);
  if (ec != std::errc{} || end != text.data() + 3 || s.code < 100 || s.code > 999) return std::nullopt;
  if (text.size() > 3) {
    if (text[3] != ' ') return std::nullopt;
    s.reason = std::string(text.substr(4));
  }
  return s;
}

std::string traceback_text(const json::object& model) {
  std::string out;
  // chain: the exception's causes and contexts, the nearest first and the innermost
  // last; Python prints the innermost first, each followed by the sentence that links
  // it to the next.
  if (auto* chain = array(model, "chain")) {
    for (auto it = chain->rbegin(); it != chain->rend(); ++it) {
      auto* link = it->if_object();
      if (!link) continue;
      frames_text(*link, out);
      out += exception_line(*link);
      out += str(*link, "relation") == "cause"
                 ? "\nThe above exception was the direct cause of the following exception:\n\n"
                 : "\nDuring handling of the above exception, another exception occurred:\n\n";
    }
  }
  frames_text(model, out);
  out += exception_line(model);
  return out;
}

replay_result result_from_record(const store::replay_record& row) {
  replay_result r;
  r.capture_id = row.capture_id;
  r.replay_id = row.id;
  r.how = outcome::error;
  for (auto o : {outcome::completed, outcome::timeout, outcome::crashed, outcome::error})
    if (row.outcome == to_string(o)) r.how = o;
  r.error = row.error;
  // Written by this program; a row that does not parse is shown without that part.
  boost::system::error_code ec;
  if (!row.result_json.empty())
    if (auto v = json::parse(row.result_json, ec); !ec && v.is_object()) r.response = std::move(v.as_object());
  if (!row.exception_json.empty())
    if (auto v = json::parse(row.exception_json, ec); !ec) r.exception = std::move(v);
  r.body = row.body;
  r.duration_ms = row.duration_ms;
  r.trigger = row.trigger;
  return r;
}

json::object result_to_json(const replay_result& r) {
  json::object out;
  out["capture_id"] = r.capture_id;
  out["replay_id"] = r.replay_id ? json::value(r.replay_id) : json::value(nullptr);
  out["target"] = r.target;
  if (r.target == "upstream") out["upstream"] = r.upstream;
  out["outcome"] = to_string(r.how);
  out["error"] = r.error.empty() ? json::value(nullptr) : json::value(r.error);
  std::optional<status_line> status;
  if (auto* s = r.response.if_contains("status"); s && s->is_string()) status = parse_status(s->as_string());
  out["status"] = status ? json::value(status->code) : json::value(nullptr);
  out["reason"] = status ? json::value(status->reason) : json::value(nullptr);
  if (auto* h = r.response.if_contains("headers"); h && h->is_array())
    out["headers"] = *h;
  else
    out["headers"] = json::array{};
  bool completed = r.how == outcome::completed;
  out["body_base64"] = completed ? json::value(cli::base64_encode(r.body)) : json::value(nullptr);
  out["body_truncated"] = boolean(r.response, "body_truncated");
  out["body_size"] = completed ? json::value(integer(r.response, "body_size", static_cast<std::int64_t>(r.body.size())))
                               : json::value(nullptr);
  if (auto* rb = r.response.if_contains("rolled_back"); rb && rb->is_array())
    out["rolled_back"] = *rb;
  else
    out["rolled_back"] = json::array{};
  out["exception"] = r.exception;
  out["duration_ms"] = r.duration_ms;
  if (auto* d = r.response.if_contains("duration_ms")) out["app_duration_ms"] = *d;
  out["debugger_used"] = boolean(r.response, "debugger_used");
  return out;
}

std::string result_text(const replay_result& r, std::size_t body_limit) {
  std::string out;
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.1f ms", r.duration_ms);
  const bool upstream = r.target == "upstream";
  std::string title = (r.trigger.empty() ? "replay" : "live session") +
                      (r.replay_id ? " " + std::to_string(r.replay_id) : std::string()) + " of capture " +
                      std::to_string(r.capture_id) + (upstream ? " by the app at " + shown(r.upstream) : std::string()) +
                      (r.trigger.empty() ? std::string() : " (rule '" + shown(r.trigger) + "')");
  if (r.how == outcome::completed) {
    std::string status = str(r.response, "status");
    out += title + ": " + (status.empty() ? std::string("the app raised before it started a response") : shown(status)) +
           " (" + ms + ")\n";
    if (auto* headers = array(r.response, "headers")) {
      for (const auto& hv : *headers) {
        auto* pair = hv.if_array();
        if (!pair || pair->size() != 2 || !(*pair)[0].is_string() || !(*pair)[1].is_string()) continue;
        out += shown((*pair)[0].as_string()) + ": " + shown((*pair)[1].as_string()) + "\n";
      }
    }
    auto size = static_cast<std::uint64_t>(integer(r.response, "body_size", static_cast<std::int64_t>(r.body.size())));
    const std::string kept = upstream ? "hindsight kept" : "the worker returned";
    if (r.body.empty() && size > 0) {
      out += "\n(a body of " + std::to_string(size) + " bytes; " + kept + " none of it)\n";
    } else if (!r.body.empty()) {
      out += "\n";
      out += cli::body_text(r.body, size, false, body_limit, "", "the whole body is in `replay --json`");
      if (boolean(r.response, "body_truncated"))
        out += "… the app produced " + std::to_string(size) + " bytes; " + kept + " the first " +
               std::to_string(r.body.size()) + "\n";
    }
  } else if (r.how == outcome::timeout) {
    out += title + ": stopped by the timeout after " + ms + "\n";
  } else {
    out += title + ": " + std::string(to_string(r.how)) + "\n";
  }
  if (auto* e = r.exception.if_object()) {
    out += "\n" + traceback_text(*e);
  }
  if (r.how == outcome::completed && !upstream) {
    std::string contained;
    if (auto* rb = array(r.response, "rolled_back"))
      for (const auto& v : *rb)
        if (auto* s = v.if_string()) contained += (contained.empty() ? "" : ", ") + shown(*s);
    out += "\nrolled back: " + (contained.empty() ? std::string("nothing") : contained) + "\n";
  }
  return out;
}

}  // namespace hindsight::replay
