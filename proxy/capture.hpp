#pragma once
// The capture tee: while an exchange is relayed, a copy of its request head and the
// first bytes of both bodies is kept on the side; at its end the policy decides whether
// it becomes a store::capture. Copies are bounded, and the response is only copied
// when its status can still make the exchange worth keeping.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/capture.hpp"

namespace hindsight::proxy {

// Status ranges as users write them: "500-599,429", "5xx", "502". Throws
// std::invalid_argument naming the part that is wrong.
std::vector<std::pair<int, int>> parse_status_ranges(std::string_view text);
std::string status_ranges_text(const std::vector<std::pair<int, int>>& ranges);

struct capture_policy {
  // 500–599. (A function: GCC 12 warns wrongly about a braced list member initializer here.)
  static std::vector<std::pair<int, int>> server_errors() { return {std::pair{500, 599}}; }

  bool enabled = true;                                   // --capture on|off
  std::vector<std::pair<int, int>> statuses = server_errors();  // --capture-status
  std::optional<std::chrono::milliseconds> slow;         // --capture-slow
  double sample = 0;                                     // --capture-sample, of the rest
  std::size_t request_body_limit = 1 << 20;              // --capture-request-body
  std::size_t response_body_limit = 64 << 10;            // --capture-response-body

  bool status_wanted(int status) const;
  // Slow or sampled exchanges are decided at the end whatever their status, so their
  // responses must be copied from the start.
  bool keeps_any_status() const { return slow.has_value() || sample > 0; }
};

// What the session knows at the end of an exchange, beyond the bytes the tee holds.
struct exchange_outcome {
  int status = 0;               // what the client got; 0: nothing (the client went away)
  bool proxy_answered = false;  // the status is the proxy's own answer (502/504)
  std::string_view own_answer;  // then: the bytes of that answer
  std::string_view upstream_error_kind;  // "" when the app answered in full
  std::string_view error;
  std::string_view client;      // peer address, "unix"
  double duration_ms = 0, upstream_ms = -1;
  std::chrono::system_clock::time_point started;
  bool app_restarted = false;
};

// The request parts of a capture from a request head as received (request line and
// fields, up to the empty line): method, target, version, host, scheme (X-Forwarded-Proto),
// request_headers. The head must be one the proxy accepted.
void fill_request_parts(store::capture& c, std::string_view raw_head);

class capture_tee {
 public:
  explicit capture_tee(const capture_policy& policy) : policy_(policy) {}

  // A new exchange whose request head is `raw_head` (still in the client buffer).
  void begin(std::string_view raw_head);
  // Body bytes as the app gets them, chunked coding removed.
  void request_body(std::string_view bytes) {
    request_size_ += bytes.size();
    append_bounded(request_body_, bytes, policy_.request_body_limit);
  }
  void request_incomplete() { request_complete_ = false; }
  // A capture rule fired for this exchange: keep it whatever its status (after begin).
  void keep_for_rule() { rule_keep_ = true; }
  // The app's final response head; decides whether its body is worth copying.
  void response_head(std::string_view raw_head, int status);
  void response_body(std::string_view bytes) {
    response_size_ += bytes.size();
    append_bounded(response_body_, bytes, response_copy_limit_);
  }
  // Whether response_body() would still copy anything: if not, the rest of the body
  // need not pass through this process at all (it is only counted).
  bool wants_response_body() const { return response_body_.size() < response_copy_limit_; }
  void response_body_passed(std::uint64_t n) { response_size_ += n; }

  // The capture, if the policy keeps this exchange. Leaves the tee ready for the next.
  std::optional<store::capture> finish(const exchange_outcome& outcome);

 private:
  static void append_bounded(std::string& to, std::string_view bytes, std::size_t limit) {
    if (to.size() < limit) to.append(bytes.substr(0, limit - to.size()));
  }
  const char* reason_to_keep(const exchange_outcome& o) const;
  void reset();

  const capture_policy& policy_;
  std::string request_head_, request_body_, response_head_, response_body_;
  std::uint64_t request_size_ = 0, response_size_ = 0;
  bool request_complete_ = true;
  bool rule_keep_ = false;
  std::size_t response_copy_limit_ = 0;
};

}  // namespace hindsight::proxy
