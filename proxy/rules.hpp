#pragma once
// Trigger rules, compiled: what `hindsight rules add` validates and what the proxy
// evaluates on every request head. Pure: no sockets, no database (the store keeps the
// rules as text, store/rules.hpp; cli/rule_watcher loads and publishes them).
//
// Per request, with no rule loaded, the proxy pays one atomic load and a branch
// (rule_table::current). With rules, every rule is checked against the head in id
// order; the first that fires wins. Matching allocates nothing but a regex's state.
#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http_head.hpp"
#include "store/rule.hpp"

namespace hindsight::proxy {

enum class rule_action { capture, traceback, pdb, break_at, post_mortem };
std::string_view to_string(rule_action a);  // capture, traceback, pdb, break, post-mortem
// Every action but capture runs the request in a debugger, which needs a debug token.
inline bool is_debug(rule_action a) { return a != rule_action::capture; }

// A malformed rule: which option, its text, and where in it the error is.
struct rule_error : std::invalid_argument {
  // what(): "--path 're:a(b': MESSAGE (at position P)"; the position is left out when
  // the message says it already (a regex error counts within the expression).
  rule_error(std::string option, std::string text, std::size_t position, std::string message,
             bool message_has_position = false);
  std::string option;    // "--path"
  std::string text;      // the option's value
  std::size_t position;  // in `text`, for a caret; npos when the error is not at one place
  std::string message;   // what is wrong, without the option
};

// "--do pdb", "--do 'break shop/views.py:42:order_id == 7'": the action and its argument
// (FILE:LINE[:COND] for break). Throws rule_error.
std::pair<rule_action, std::string> parse_action(std::string_view text);

// What a rule sees of a request: its head (the debug token already stripped) and the
// client's address. `peer` is the TCP peer ("" for a unix-socket peer, which is the
// router on Platform.sh); then the last X-Forwarded-For entry, which that router
// appended, is the client.
struct request_view {
  std::string_view method, target;
  const std::vector<field>* fields = nullptr;
  std::string_view peer;
};

// The client address rules match --client against (see request_view).
std::string_view client_address(const request_view& req);

// Hits counted in the proxy, shared by the successive compilations of one rule so a
// reload loses none. `flushed` is the part already added to the store.
struct rule_hits {
  std::atomic<std::uint64_t> count{0};
  std::atomic<std::uint64_t> flushed{0};
};

class compiled_rule {
 public:
  // Throws rule_error naming the field that does not compile.
  explicit compiled_rule(store::rule_record record, std::shared_ptr<rule_hits> hits = nullptr);

  const store::rule_record& record() const { return record_; }
  rule_action action() const { return action_; }
  rule_hits& hits() const { return *hits_; }
  const std::shared_ptr<rule_hits>& shared_hits() const { return hits_; }

  // nullptr when every match field matches; else the option of the first one that does
  // not ("--method", "--path", "--query", "--header", "--cookie", "--client").
  const char* mismatch(const request_view& req) const;
  // Counts a hit unless max_hits is reached (exactly, whatever the threads); false then.
  bool take_hit() const;
  bool expired(std::int64_t now_us) const { return record_.expires_us && now_us >= *record_.expires_us; }

 private:
  struct matchers;
  store::rule_record record_;
  rule_action action_;
  std::shared_ptr<const matchers> match_;
  std::shared_ptr<rule_hits> hits_;
};

// Why a rule does not fire for a request.
enum class rule_verdict { fires, disabled, expired, max_hits, no_match, no_token, earlier_rule };

struct rule_explanation {
  const compiled_rule* rule;
  rule_verdict verdict;
  std::string why;  // "" when it fires
};

// An immutable set of compiled rules, published to the proxy threads as a whole.
class rule_set {
 public:
  explicit rule_set(std::vector<compiled_rule> rules) : rules_(std::move(rules)) {}
  const std::vector<compiled_rule>& rules() const { return rules_; }
  bool empty() const { return rules_.empty(); }

  // The rule that fires for `req`, its hit counted; nullptr when none does. Debug rules
  // are only considered when `token_valid`.
  const compiled_rule* fire(const request_view& req, bool token_valid, std::int64_t now_us) const;
  // For `hindsight rules test`: each rule with why it would or would not fire; nothing
  // is counted. `token_problem` says why there is no valid token ("" when there is).
  std::vector<rule_explanation> explain(const request_view& req, std::string_view token_problem,
                                        std::int64_t now_us) const;

 private:
  std::vector<compiled_rule> rules_;
};

// Where the proxy threads find the current rules. Publishing swaps the whole set.
class rule_table {
 public:
  // nullptr when there are no rules: one relaxed atomic load on every request.
  std::shared_ptr<const rule_set> current() const {
    if (!any_.load(std::memory_order_acquire)) return nullptr;
    return set_.load(std::memory_order_acquire);
  }
  void publish(std::shared_ptr<const rule_set> set) {
    bool any = set && !set->empty();
    set_.store(any ? std::move(set) : nullptr, std::memory_order_release);
    any_.store(any, std::memory_order_release);
  }

 private:
  std::atomic<bool> any_{false};
  std::atomic<std::shared_ptr<const rule_set>> set_;
};

}  // namespace hindsight::proxy
