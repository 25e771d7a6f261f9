#pragma once
// The proxy's end of a debug worker's socket, asynchronous: the frames of
// docs/worker-protocol.md read and written with Asio coroutines on the debugger's
// thread, so one thread follows every worker, terminal and attach connection at once.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/json/object.hpp>

#include <optional>
#include <string>

namespace hindsight::debug {

namespace net = boost::asio;

struct worker_message {
  boost::json::object header;
  std::string body;
  std::string type() const;
};

class worker_link {
 public:
  // Takes ownership of `fd`, the parent's end of the worker's socketpair.
  worker_link(const net::any_io_executor& executor, int fd);

  // The next message; nullopt when the worker closed the socket or broke the framing
  // (`error()` then says how).
  net::awaitable<std::optional<worker_message>> receive();
  // false when the worker is gone.
  net::awaitable<bool> send(const boost::json::object& header, std::string_view body);
  void close();
  const std::string& error() const { return error_; }

 private:
  net::local::stream_protocol::socket socket_;
  std::string error_;
};

}  // namespace hindsight::debug
