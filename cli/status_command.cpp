#include "cli/status_command.hpp"

#include <boost/json.hpp>

#include <cmath>
#include <cstdio>

#include "cli/byte_size.hpp"
#include "cli/json_output.hpp"
#include "cli/store_options.hpp"
#include "cli/text_encoding.hpp"
#include "cli/time_format.hpp"

namespace hindsight::cli {
namespace {

namespace json = boost::json;

// The value at `path` in the proxy's reply, or null: a reply from another version of
// hindsight may lack a field, and status shows what it can.
const json::value* at(const json::object& o, std::initializer_list<std::string_view> path) {
  const json::object* obj = &o;
  const json::value* v = nullptr;
  for (auto key : path) {
    if (!obj) return nullptr;
    v = obj->if_contains(key);
    if (!v) return nullptr;
    obj = v->if_object();
  }
  return v;
}

std::optional<double> number(const json::value* v) {
  if (!v) return std::nullopt;
  if (v->is_int64()) return static_cast<double>(v->get_int64());
  if (v->is_uint64()) return static_cast<double>(v->get_uint64());
  if (v->is_double()) return v->get_double();
  return std::nullopt;
}

std::string number_text(const json::value* v) {
  auto n = number(v);
  if (!n) return "?";
  char buf[32];
  if (*n == std::floor(*n) && std::fabs(*n) < 1e15) std::snprintf(buf, sizeof buf, "%.0f", *n);
  else std::snprintf(buf, sizeof buf, "%g", *n);
  return buf;
}

std::string string_text(const json::value* v) {
  if (!v || !v->is_string()) return "?";
  return escape_controls(utf8_or_latin1(v->get_string()));
}

std::string size_text(const json::value* v) {
  auto n = number(v);
  return n && *n >= 0 ? byte_size_text(static_cast<std::uint64_t>(*n)) : "?";
}

std::string dropped_text(const std::vector<std::pair<std::string, std::uint64_t>>& by_reason) {
  std::uint64_t total = 0;
  std::string parts;
  for (const auto& [reason, n] : by_reason) {
    total += n;
    if (n == 0) continue;
    parts += (parts.empty() ? "" : ", ") + reason + " " + std::to_string(n);
  }
  return std::to_string(total) + (parts.empty() ? "" : " (" + parts + ")");
}

void row(std::string& out, std::string_view key, const std::string& value) {
  std::string k(key);
  k.resize(18, ' ');
  out += "  " + k + value + "\n";
}

void proxy_text(std::string& out, const json::object& r) {
  std::string head = "running: pid " + number_text(at(r, {"pid"}));
  if (auto* v = at(r, {"version"}); v && v->is_string()) head += ", hindsight " + string_text(v);
  if (auto up = number(at(r, {"uptime_s"}))) head += ", up " + format_elapsed(*up);
  if (auto* v = at(r, {"started"}); v && v->is_string()) head += " (since " + string_text(v) + ")";
  out += "proxy     " + head + "\n";
  if (auto* e = at(r, {"error"})) row(out, "error", string_text(e));
  row(out, "listen", string_text(at(r, {"listen"})));
  std::string upstream = string_text(at(r, {"upstream"}));
  if (auto* s = at(r, {"app", "supervised"}); s && s->is_bool()) {
    if (s->get_bool()) {
      auto restarts = number(at(r, {"app", "restarts"}));
      upstream += " (supervised app, " + (restarts ? number_text(at(r, {"app", "restarts"})) : std::string("?")) + " restart" +
                  (restarts && *restarts == 1 ? "" : "s") + ")";
    } else {
      upstream += " (not supervised)";
    }
  }
  row(out, "upstream", upstream);

  if (auto* enabled = at(r, {"capture", "enabled"}); enabled && enabled->is_bool() && !enabled->get_bool()) {
    row(out, "capture", "off (--capture off)");
  } else if (at(r, {"capture"})) {
    std::string policy = "statuses " + string_text(at(r, {"capture", "statuses"}));
    if (auto slow = number(at(r, {"capture", "slow_ms"}))) policy += ", slower than " + format_duration_ms(*slow);
    if (auto sample = number(at(r, {"capture", "sample"})); sample && *sample > 0)
      policy += ", a sample of " + number_text(at(r, {"capture", "sample"})) + " of the rest";
    row(out, "capture", policy);
    row(out, "bodies", "request up to " + size_text(at(r, {"capture", "request_body_limit"})) + ", response up to " +
                           size_text(at(r, {"capture", "response_body_limit"})));
    if (at(r, {"capture", "queue_length"}))
      row(out, "queue", number_text(at(r, {"capture", "queue_length"})) + " of " + number_text(at(r, {"capture", "queue_capacity"})));
    else
      row(out, "queue", "capacity " + number_text(at(r, {"capture", "queue_capacity"})));
  }
  if (at(r, {"writer"})) {
    row(out, "stored", number_text(at(r, {"writer", "stored"})) + " since start");
    std::vector<std::pair<std::string, std::uint64_t>> dropped;
    if (auto* d = at(r, {"writer", "dropped"}); d && d->is_object())
      for (const auto& kv : d->get_object())
        if (auto n = number(&kv.value())) dropped.emplace_back(std::string(kv.key()), static_cast<std::uint64_t>(*n));
    row(out, "dropped", dropped_text(dropped) + " since start");
    row(out, "pruned", number_text(at(r, {"writer", "pruned"})) + " since start");
    auto* last = at(r, {"writer", "last_error"});
    row(out, "last error", !last || !last->is_string() || last->get_string().empty() ? std::string("none") : string_text(last));
  }
  if (at(r, {"retention"}))
    row(out, "retention", retention_text(retention_from_reply(&r)));
  if (auto* enabled = at(r, {"debug", "enabled"}); enabled && enabled->is_bool()) {
    if (!enabled->get_bool()) {
      row(out, "debug", "off: " + string_text(at(r, {"debug", "off_reason"})));
    } else {
      std::string text = "live sessions of " + string_text(at(r, {"debug", "app"}));
      if (at(r, {"debug", "workers"})) {
        text += ": " + number_text(at(r, {"debug", "workers"})) + " worker(s), " + number_text(at(r, {"debug", "warm"})) +
                " warm, " + number_text(at(r, {"debug", "busy"})) + " busy; " +
                number_text(at(r, {"debug", "terminals_waiting"})) + " `hindsight attach` waiting; " +
                number_text(at(r, {"debug", "sessions"})) + " session(s) since start";
      }
      row(out, "debug", text);
    }
  }
}

}  // namespace

json::object store_summary_json(const store::store_summary& s) {
  json::object dropped;
  for (const auto& [reason, n] : s.dropped_total) dropped[reason] = n;
  auto when = [](const std::optional<std::int64_t>& us) { return us ? json::value(iso8601_ms(*us)) : json::value(nullptr); };
  return {
      {"schema_version", s.schema_version},
      {"rows", s.rows},
      {"bytes", s.bytes},
      {"groups", s.groups},
      {"file_bytes", s.file_bytes},
      {"oldest", when(s.oldest_us)},
      {"newest", when(s.newest_us)},
      {"stored_total", s.stored_total},
      {"dropped_total", std::move(dropped)},
  };
}

json::object status_json(const status_report& r) {
  using state = control_answer::state;
  json::object o;
  o["data"] = r.data;
  o["database"] = r.database;
  o["proxy"] = r.proxy.status == state::running ? json::value(r.proxy.reply) : json::value(nullptr);
  o["proxy_state"] = r.proxy.status == state::running ? "running" : r.proxy.status == state::not_running ? "not_running" : "unreachable";
  o["proxy_problem"] = r.proxy.problem.empty() ? json::value(nullptr) : json::value(r.proxy.problem);
  o["store"] = r.store ? json::value(store_summary_json(*r.store)) : json::value(nullptr);
  o["store_problem"] = r.store_problem.empty() ? json::value(nullptr) : json::value(r.store_problem);
  return o;
}

std::string status_text(const status_report& r) {
  using state = control_answer::state;
  std::string out = "data      " + r.data + "\n";
  switch (r.proxy.status) {
    case state::running: proxy_text(out, r.proxy.reply); break;
    case state::not_running: out += "proxy     not running (" + r.proxy.problem + ")\n"; break;
    case state::unreachable: out += "proxy     unknown: " + r.proxy.problem + "\n"; break;
  }
  if (!r.store_problem.empty()) {
    out += "store     " + r.database + ": unreadable (see the error below)\n";
    return out;
  }
  if (!r.store) {
    out += "store     none yet: " + r.database + " does not exist (nothing has been captured in this directory)\n";
    return out;
  }
  const auto& s = *r.store;
  out += "store     " + r.database + "\n";
  row(out, "captures", std::to_string(s.rows) + " (" + rounded_size_text(s.bytes) + "), " + std::to_string(s.groups) + " group" +
                           (s.groups == 1 ? "" : "s"));
  row(out, "oldest", s.oldest_us ? iso8601_seconds(*s.oldest_us) : std::string("-"));
  row(out, "newest", s.newest_us ? iso8601_seconds(*s.newest_us) : std::string("-"));
  row(out, "file size", rounded_size_text(s.file_bytes) + " (with its WAL)");
  row(out, "schema", "version " + std::to_string(s.schema_version));
  row(out, "ever stored", std::to_string(s.stored_total));
  row(out, "ever dropped", dropped_text(s.dropped_total));
  return out;
}

void add_status_command(CLI::App& app, status_options& o) {
  auto* cmd = app.add_subcommand("status", "Whether a proxy runs on this data directory, what it captured and dropped, the store's size");
  add_data_option(*cmd, o.data);
  cmd->add_flag("--json", o.json, "Print one JSON object: {\"proxy\": null or the proxy's report, \"store\": …}");
}

int status(const status_options& o) {
  return run_command([&]() -> int {
    auto where = locate_store(o.data);
    status_report report;
    report.data = where.data.string();
    report.database = where.database.string();
    report.proxy = ask_proxy(where.control, "status");
    if (where.database_exists()) {
      try {
        store::reader reader(where.database);
        report.store = reader.summary();
      } catch (const std::exception& e) {
        report.store_problem = e.what();
      }
    }
    if (o.json) std::printf("%s\n", to_json_text(status_json(report)).c_str());
    else std::fputs(status_text(report).c_str(), stdout);
    // The proxy's part is still worth printing; the store's failure is the error.
    if (!report.store_problem.empty()) throw std::runtime_error(report.store_problem);
    return 0;
  });
}

}  // namespace hindsight::cli
