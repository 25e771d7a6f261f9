#include "replay/traceback_page.hpp"

#include <boost/json.hpp>

#include <vector>

#include "cli/text_encoding.hpp"
#include "replay/model_fields.hpp"

namespace hindsight::replay {
namespace {

namespace json = boost::json;
using fields::array;
using fields::boolean;
using fields::integer;
using fields::str;

// No script at all (folding is <details>), styles only inline, nothing fetched.
constexpr std::string_view csp =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

constexpr std::string_view style = R"CSS(
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{background:#7a1f1f;color:#fff;padding:16px 24px}
header h1{font-size:20px;margin:0 0 4px;word-break:break-word}
header p{margin:2px 0;opacity:.9;word-break:break-all}
main{padding:8px 24px 32px;max-width:1200px}
h2{font-size:15px;margin:24px 0 8px}
.link{font-style:italic;color:#555;margin:20px 0}
details{background:#fff;border:1px solid #ddd;border-radius:4px;margin:6px 0}
details.app{border-left:4px solid #b33}
details.library{opacity:.85}
summary{cursor:pointer;padding:6px 10px;font-family:ui-monospace,monospace;font-size:13px;word-break:break-all}
summary .function{font-weight:600}
summary .where{color:#666}
.kind{font:11px system-ui,sans-serif;color:#fff;background:#b33;border-radius:3px;padding:1px 5px;margin-right:6px}
.library .kind{background:#888}
pre{margin:0;padding:6px 0;overflow-x:auto;font:12.5px/1.5 ui-monospace,monospace;background:#f6f6f6}
pre span{display:block;padding:0 10px;white-space:pre}
pre span.current{background:#fde2e2;font-weight:600}
pre i{font-style:normal;color:#999;display:inline-block;min-width:4ch;margin-right:8px;text-align:right}
table{border-collapse:collapse;width:100%;font:12.5px ui-monospace,monospace}
td{border-top:1px solid #eee;padding:3px 10px;vertical-align:top;word-break:break-all}
td.name{width:16ch;color:#333;font-weight:600}
.exception{font:600 15px ui-monospace,monospace;margin:10px 0;word-break:break-word;white-space:pre-wrap}
.note{font:13px ui-monospace,monospace;color:#555;margin:2px 0 0 2ch;white-space:pre-wrap}
footer{color:#777;font-size:12px;padding:0 24px 24px}
)CSS";

void frame_html(const json::object& f, std::string& out) {
  const bool app = boolean(f, "app");
  const auto line = integer(f, "line");
  out += app ? "<details class=\"app\" open>" : "<details class=\"library\">";
  out += "<summary><span class=\"kind\">";
  out += app ? "app" : "library";
  out += "</span><span class=\"where\">File \"" + html_escape(str(f, "file")) + "\", line " + std::to_string(line) +
         ", in </span><span class=\"function\">" + html_escape(str(f, "function")) + "</span></summary>";
  if (auto* source = array(f, "source"); source && !source->empty()) {
    out += "<pre>";
    for (const auto& entry : *source) {
      auto* pair = entry.if_array();
      if (!pair || pair->size() != 2 || !(*pair)[1].is_string()) continue;
      std::int64_t number = (*pair)[0].is_int64() ? (*pair)[0].as_int64() : 0;
      std::string_view text = (*pair)[1].as_string();
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
      out += number == line ? "<span class=\"current\">" : "<span>";
      out += "<i>" + std::to_string(number) + "</i>" + html_escape(text) + "</span>";
    }
    out += "</pre>";
  }
  if (auto* v = f.if_contains("locals"); v && v->is_object() && !v->as_object().empty()) {
    out += "<table>";
    for (const auto& [name, value] : v->as_object()) {
      std::string repr = value.is_string() ? std::string(value.as_string()) : json::serialize(value);
      out += "<tr><td class=\"name\">" + html_escape(name) + "</td><td>" + html_escape(repr) + "</td></tr>";
    }
    out += "</table>";
  }
  out += "</details>\n";
}

void exception_html(const json::object& e, std::string& out) {
  if (auto* frames = array(e, "frames"); frames && !frames->empty()) {
    out += "<h2>Traceback (most recent call last)</h2>\n";
    for (const auto& f : *frames)
      if (auto* frame = f.if_object()) frame_html(*frame, out);
  }
  std::string message = str(e, "message");
  out += "<div class=\"exception\">" + html_escape(fields::exception_name(e)) +
         (message.empty() ? std::string() : ": " + html_escape(message)) + "</div>\n";
  if (auto* notes = array(e, "notes"))
    for (const auto& n : *notes)
      if (auto* s = n.if_string()) out += "<div class=\"note\">" + html_escape(*s) + "</div>\n";
}

}  // namespace

std::string_view traceback_page_csp() { return csp; }

std::string html_escape(std::string_view text) {
  std::string safe = cli::escape_controls(cli::utf8_or_latin1(text));
  std::string out;
  out.reserve(safe.size() + safe.size() / 8);
  for (char c : safe) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string traceback_page(const json::object& model, const page_context& context) {
  std::string message = str(model, "message");
  std::string headline = fields::exception_name(model) + (message.empty() ? std::string() : ": " + message);
  std::string out;
  out.reserve(16 * 1024);
  out += "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  out += "<meta http-equiv=\"Content-Security-Policy\" content=\"" + std::string(csp) + "\">\n";
  out += "<meta name=\"referrer\" content=\"no-referrer\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  out += "<title>" + html_escape(headline) + " — hindsight</title>\n<style>" + std::string(style) + "</style>\n";
  out += "</head><body>\n<header><h1>" + html_escape(headline) + "</h1>\n";
  if (!context.request_line.empty()) out += "<p>" + html_escape(context.request_line) + "</p>\n";
  if (!context.origin.empty()) out += "<p>" + html_escape(context.origin) + "</p>\n";
  out += "</header>\n<main>\n";
  // Python's order: the innermost cause first, each followed by the sentence linking it
  // to the next; the model's chain lists them nearest first.
  if (auto* chain = array(model, "chain")) {
    for (auto it = chain->rbegin(); it != chain->rend(); ++it) {
      auto* link = it->if_object();
      if (!link) continue;
      exception_html(*link, out);
      out += str(*link, "relation") == "cause"
                 ? "<p class=\"link\">The above exception was the direct cause of the following exception:</p>\n"
                 : "<p class=\"link\">During handling of the above exception, another exception occurred:</p>\n";
    }
  }
  exception_html(model, out);
  out += "</main>\n<footer>hindsight — the app's frames are open, library frames folded; locals are bounded "
         "reprs taken when the exception was raised.</footer>\n</body></html>\n";
  return out;
}

}  // namespace hindsight::replay
