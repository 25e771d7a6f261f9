#pragma once
// Keep-alive connections to the app, per proxy thread. gunicorn's sync workers close
// every connection, so the pool stays empty with them; gthread, uvicorn and the like
// keep connections open and the pool saves a connect per request.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>

#include <chrono>
#include <memory>
#include <vector>

#include "proxy/byte_buffer.hpp"

namespace hindsight::proxy {

struct upstream_connection {
  explicit upstream_connection(const boost::asio::any_io_executor& ex) : socket(ex) {}
  boost::asio::generic::stream_protocol::socket socket;
  byte_buffer in;      // response bytes read from the app
  bool reused = false; // it carried an exchange before this one
  bool check_before_reuse = false;  // its last response had no body: look for stray bytes
  std::chrono::steady_clock::time_point idle_since;
};

class upstream_pool {
 public:
  // An app's keep-alive timeout is usually a few seconds (gunicorn gthread: 2 s); a
  // connection idle longer than this is not worth checking.
  static constexpr std::chrono::seconds max_idle_age{60};
  static constexpr std::size_t max_idle = 256;
  static constexpr std::size_t response_buffer_size = 128 * 1024;
  static constexpr std::size_t max_free_buffers = 64;

  upstream_pool(boost::asio::any_io_executor ex, boost::asio::generic::stream_protocol::endpoint endpoint, bool tcp)
      : ex_(std::move(ex)), endpoint_(std::move(endpoint)), tcp_(tcp) {}

  // An idle connection that is still open and silent, or null. A connection idle for
  // less than `trust_for` is not checked (a syscall per request); if the app closed it
  // meanwhile, the caller retries on a new one.
  std::unique_ptr<upstream_connection> take_idle(std::chrono::milliseconds trust_for);
  // A new, unconnected socket for the caller to connect to endpoint().
  std::unique_ptr<upstream_connection> fresh();
  // Keeps a connection for the next exchange, or closes it when the pool is full.
  void give_back(std::unique_ptr<upstream_connection> c);
  // Closes a connection that cannot carry another exchange.
  void discard(std::unique_ptr<upstream_connection> c);
  void clear() { idle_.clear(); }

  const boost::asio::generic::stream_protocol::endpoint& endpoint() const { return endpoint_; }
  bool tcp() const { return tcp_; }

 private:
  boost::asio::any_io_executor ex_;
  boost::asio::generic::stream_protocol::endpoint endpoint_;
  bool tcp_;
  // Response buffers belong to exchanges, not connections: an idle connection holds
  // none, and the most recently freed buffer is reused first, so the few in use stay in
  // the CPU's cache instead of one per pooled connection being cycled through.
  // Whether nothing is waiting to be read on it and the app has not closed it.
  static bool is_open_and_silent(upstream_connection& c);
  byte_buffer take_buffer();
  void return_buffer(upstream_connection& c);

  std::vector<std::unique_ptr<upstream_connection>> idle_;
  std::vector<byte_buffer> free_buffers_;
};

}  // namespace hindsight::proxy
