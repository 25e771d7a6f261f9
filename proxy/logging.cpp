#include "proxy/logging.hpp"

#include <spdlog/details/fmt_helper.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>

namespace hindsight::proxy {
namespace {

log_format current_format = log_format::text;
bool access_log_on = true;

void append_time(std::string& out, std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count();
  std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  auto n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  out.append(buf, static_cast<std::size_t>(n));
}

// Access lines carry their fields as a JSON fragment in the message, marked by a
// leading '\x01'; the JSON formatter splices it in beside time, level and msg.
constexpr char fields_marker = '\x01';

class json_formatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = "{\"time\":\"";
    append_time(line, msg.time);
    line += "\",\"level\":\"";
    auto level = spdlog::level::to_string_view(msg.level);
    line.append(level.data(), level.size());
    line += "\",";
    std::string_view payload(msg.payload.data(), msg.payload.size());
    if (!payload.empty() && payload.front() == fields_marker) {
      line.append(payload.substr(1));
    } else {
      line += "\"msg\":\"";
      append_json_escaped(line, payload);
      line += "\"";
    }
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<json_formatter>(); }
};

void append_ms(std::string& out, double ms) {
  char buf[32];
  auto n = std::snprintf(buf, sizeof buf, "%.3f", ms);
  out.append(buf, static_cast<std::size_t>(n));
}

}  // namespace

std::string duration_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

void append_json_escaped(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        // Control bytes, and bytes of attacker-controlled targets that are not ASCII, are
        // escaped so every line stays valid JSON whatever the request held.
        if (c < 0x20 || c >= 0x7f) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += ch;
        }
    }
  }
}

void configure_logging(log_format format, std::string_view level, bool access_log) {
  current_format = format;
  access_log_on = access_log;
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("hindsight", sink);
  if (format == log_format::json) logger->set_formatter(std::make_unique<json_formatter>());
  else logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ hindsight %l: %v", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

void log_exchange(const exchange_record& r) {
  if (!access_log_on || !spdlog::should_log(spdlog::level::info)) return;
  std::string line;
  line.reserve(256);
  const char* version = r.version == 10 ? "HTTP/1.0" : "HTTP/1.1";
  if (current_format == log_format::json) {
    line += fields_marker;
    line += "\"msg\":\"access\",\"client\":\"";
    append_json_escaped(line, r.client);
    line += "\",\"method\":\"";
    append_json_escaped(line, r.method);
    line += "\",\"target\":\"";
    append_json_escaped(line, r.target);
    line += "\",\"version\":\"";
    line += version;
    line += "\",\"status\":" + std::to_string(r.status);
    line += ",\"bytes_in\":" + std::to_string(r.bytes_in);
    line += ",\"bytes_out\":" + std::to_string(r.bytes_out);
    line += ",\"duration_ms\":";
    append_ms(line, r.duration_ms);
    line += ",\"upstream_ms\":";
    if (r.upstream_ms < 0) line += "null";
    else append_ms(line, r.upstream_ms);
    if (!r.error.empty()) {
      line += ",\"error\":\"";
      append_json_escaped(line, r.error);
      line += "\"";
    }
  } else {
    line.append(r.client).append(" \"");
    // The target is attacker-controlled: escape it so one request is one log line.
    std::string target;
    append_json_escaped(target, r.target);
    line.append(r.method).append(" ").append(target).append(" ").append(version).append("\" ");
    line += std::to_string(r.status);
    line += " in=" + std::to_string(r.bytes_in) + " out=" + std::to_string(r.bytes_out) + " ";
    append_ms(line, r.duration_ms);
    line += "ms upstream=";
    if (r.upstream_ms < 0) line += "-";
    else {
      append_ms(line, r.upstream_ms);
      line += "ms";
    }
    if (!r.error.empty()) line.append(" error=\"").append(r.error).append("\"");
  }
  spdlog::info("{}", line);
}

}  // namespace hindsight::proxy
