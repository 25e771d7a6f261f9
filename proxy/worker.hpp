#pragma once
// What one proxy thread owns: its event loop, its acceptor, its pool of connections
// to the app, and the client sessions it runs. Nothing here is shared between threads
// except `shared_state`, so sessions need no strand and the pool no lock.
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <unordered_set>
#include <vector>

#include "proxy/server.hpp"
#include "proxy/upstream_pool.hpp"

namespace hindsight::proxy {

namespace net = boost::asio;
using stream_socket = net::generic::stream_protocol::socket;
using stream_acceptor = net::basic_socket_acceptor<net::generic::stream_protocol>;
using steady = std::chrono::steady_clock;

class client_session;

struct worker;

struct shared_state {
  proxy_options options;
  server_hooks hooks;
  net::generic::stream_protocol::endpoint upstream_endpoint;
  int listen_family = 0;
  std::vector<worker*> workers;  // set before the threads start, then never changed
  std::atomic<std::size_t> connections{0};
  std::atomic<bool> draining{false};
};

struct worker {
  // Each socket is used by this thread only, so the reactor needs no locks; posting
  // from other threads (drain, stop) still locks the scheduler.
  explicit worker(shared_state& s) : shared(s), io(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO), pool(io.get_executor(), s.upstream_endpoint, !s.options.upstream.is_unix()) {}
  // Sockets go before the io_context; sessions still running are destroyed with it and
  // remove themselves from `sessions`, which therefore outlives it.
  ~worker() {
    pool.clear();
    acceptor.reset();
  }

  shared_state& shared;
  std::unordered_set<client_session*> sessions;
  // Client connections given to this thread and not closed yet: read by the other
  // threads' acceptors to balance new connections.
  std::atomic<std::size_t> open{0};
  net::io_context io;
  std::optional<stream_acceptor> acceptor;
  upstream_pool pool;
};

}  // namespace hindsight::proxy
