#pragma once
// Grouping: exchanges that fail the same way on the same route share a fingerprint.
#include <string>
#include <string_view>

namespace hindsight::store {

// The route of a request-target: the path without its query, each segment that looks
// like an id replaced by a placeholder — {int} (digits), {uuid}, {hex} (8+ hex digits
// with at least one digit), {date} (2024-05-01, 20240501) — so /orders/123/items and
// /orders/456/items are one route.
std::string route_of(std::string_view target);

// What groups a capture: method, route, and the status or, when the app gave no
// answer, the upstream error kind. e.g. "GET /orders/{int}/items 500",
// "POST /checkout 502 timeout".
std::string fingerprint(std::string_view method, std::string_view route, int status, std::string_view upstream_error_kind);

}  // namespace hindsight::store
