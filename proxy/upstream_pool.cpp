#include "proxy/upstream_pool.hpp"

#include <sys/socket.h>

namespace hindsight::proxy {

std::unique_ptr<upstream_connection> upstream_pool::take_idle(std::chrono::milliseconds trust_for) {
  auto now = std::chrono::steady_clock::now();
  while (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    if (now - c->idle_since > max_idle_age) continue;
    if (now - c->idle_since < trust_for) {
      c->reused = true;
      return c;
    }
    // The app may have closed it (its keep-alive timeout) or, wrongly, sent bytes
    // nobody asked for: a peek tells both without blocking.
    char probe;
    auto n = ::recv(c->socket.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      c->reused = true;
      return c;
    }
  }
  return nullptr;
}

std::unique_ptr<upstream_connection> upstream_pool::fresh() const {
  auto c = std::make_unique<upstream_connection>(ex_);
  // Room for a whole typical response in one read. Pooled connections keep it: there
  // are only as many as exchanges run at once, unlike idle client connections.
  c->in = byte_buffer(response_buffer_size);
  return c;
}

void upstream_pool::give_back(std::unique_ptr<upstream_connection> c) {
  if (idle_.size() >= max_idle || !c->in.empty()) return;
  c->idle_since = std::chrono::steady_clock::now();
  idle_.push_back(std::move(c));
}

}  // namespace hindsight::proxy
