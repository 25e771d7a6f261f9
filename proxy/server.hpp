#pragma once
// The proxy: listens on the public address and relays every exchange to the app, on
// `threads` threads that each run their own event loop, accept loop and upstream pool.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <memory>
#include <stdexcept>
#include <string>

#include "proxy/address.hpp"
#include "proxy/capture.hpp"
#include "proxy/http_head.hpp"
#include "proxy/rules.hpp"
#include "proxy/token.hpp"

namespace hindsight::proxy {

struct proxy_options {
  address listen;
  address upstream;
  unsigned threads = 1;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds idle_timeout{75'000};
  std::chrono::milliseconds body_timeout{60'000};
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds upstream_timeout{120'000};
  std::size_t max_connections = 10'000;
  head_limits limits;
  capture_policy capture;
};

// How the proxy learns about the world around it. Each is called from proxy threads
// and must be thread-safe; each may be empty.
struct server_hooks {
  // Why the app may be unreachable (it is restarting, ...), for 502 answers; "" if unknown.
  std::function<std::string()> app_hint;
  // How many times the supervised app has exited so far: an exchange that fails while
  // this changes was cut short by the app's crash. `thorough`: also count an app that
  // is dying right now (costlier; asked only when an exchange failed).
  std::function<std::uint64_t(bool thorough)> app_exits;
  // Receives the exchanges the capture policy keeps. Must not block.
  std::function<void(store::capture&&)> capture;
  // The trigger rules in force (published by cli/rule_watcher); none: no rules.
  std::shared_ptr<const rule_table> rules;
  // The secret debug tokens are checked with; none: no token is valid (tokens are still
  // removed from requests).
  std::shared_ptr<const token_secret> token_key;
  // Takes requests whose debug rule fired; none yet (proxy/debug_dispatcher.hpp).
  std::shared_ptr<class debug_dispatcher> debug;
};

// A start-up failure with a message for the user (what, why, what to do).
struct startup_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class server {
 public:
  server(proxy_options options, server_hooks hooks);
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  // Binds and listens on the public address; connections wait in the backlog until
  // start(). A unix socket file nobody listens on is replaced. Throws startup_error.
  void bind();
  // Starts the threads and accepting.
  void start();
  // Stops accepting, closes idle connections, lets in-flight exchanges finish and
  // closes their connections after. Thread-safe.
  void begin_drain();
  // Client connections still open.
  std::size_t open_connections() const;
  // Stops every thread (cutting what is still open) and joins them.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace hindsight::proxy
