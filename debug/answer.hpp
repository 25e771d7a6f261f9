#pragma once
// What the client of a live debug session gets: the app's own response as the worker
// returned it, the traceback page (the `traceback` action), or the proxy's own short
// answer when there is no response to give (busy, worker crashed or hung).
#include <boost/json/object.hpp>

#include <optional>
#include <string>

#include "proxy/debug_dispatcher.hpp"
#include "replay/traceback_page.hpp"

namespace hindsight::debug {

// A plain-text answer of the proxy's own, e.g. 503 with Retry-After when every debug
// worker is busy. `kind` goes to the capture ("crashed", "timeout", ...; "" for none).
proxy::debug_answer own_answer(int status, std::string why, std::string kind, std::optional<int> retry_after_s = {});

// From the worker's `response` header and body (docs/worker-protocol.md). With
// `traceback_page` and an exception in the response, the client gets the traceback as an
// HTML page (500, strict Content-Security-Policy) in place of the app's answer. Framing
// and hop-by-hop fields of the app are dropped (the proxy frames the answer itself); a
// field the proxy cannot send safely (a line break in it, a code point above U+00FF)
// or a body larger than the worker returned makes it a 502 that says so.
proxy::debug_answer app_answer(const boost::json::object& response, std::string body, bool traceback_page,
                               const replay::page_context& context);

}  // namespace hindsight::debug
