#pragma once
// A traceback as one self-contained HTML page, in the spirit of werkzeug's debugger
// page but static: the exception chain as Python prints it, each frame's source with
// its line marked, the locals of the app's frames; library frames folded (<details>,
// no script). Every value in it came from a request an attacker may have shaped, so
// every one is escaped, and the page carries a Content-Security-Policy that allows no
// script, no remote resource and no form at all. For `hindsight show --replay N
// --html`, and for the proxy's `traceback` rule action.
#include <boost/json/object.hpp>

#include <string>
#include <string_view>

namespace hindsight::replay {

// What the page says about where the traceback came from (each may be empty).
struct page_context {
  std::string request_line;  // "GET /orders/7/total/ HTTP/1.1", as received (latin-1 bytes)
  std::string origin;        // "capture 42, replay 7, 2026-11-26T14:02:03Z"
};

// The Content-Security-Policy of the page; a server sending it sets it as a header too.
std::string_view traceback_page_csp();

// `model` is the traceback model of docs/worker-protocol.md.
std::string traceback_page(const boost::json::object& model, const page_context& context);

// &, <, >, " and ' as character references, control characters as U+FFFD-free escapes
// ("\x1b"); invalid UTF-8 bytes read as latin-1. Safe in text and in quoted attributes.
std::string html_escape(std::string_view text);

}  // namespace hindsight::replay
