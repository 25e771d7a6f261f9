#include "proxy/upstream_pool.hpp"

#include <sys/socket.h>

namespace hindsight::proxy {

std::unique_ptr<upstream_connection> upstream_pool::take_idle(std::chrono::milliseconds trust_for) {
  auto now = std::chrono::steady_clock::now();
  while (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    if (now - c->idle_since > max_idle_age) continue;
    if ((now - c->idle_since < trust_for && !c->check_before_reuse) || is_open_and_silent(*c)) {
      c->reused = true;
      c->in = take_buffer();
      return c;
    }
  }
  return nullptr;
}

bool upstream_pool::is_open_and_silent(upstream_connection& c) {
  // The app may have closed it (its keep-alive timeout) or, wrongly, sent bytes nobody
  // asked for: a peek tells both without blocking.
  char probe;
  auto n = ::recv(c.socket.native_handle(), &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::unique_ptr<upstream_connection> upstream_pool::fresh() {
  auto c = std::make_unique<upstream_connection>(ex_);
  c->in = take_buffer();
  return c;
}

byte_buffer upstream_pool::take_buffer() {
  if (free_buffers_.empty()) return byte_buffer(response_buffer_size);  // room for a typical response in one read
  auto b = std::move(free_buffers_.back());
  free_buffers_.pop_back();
  b.clear();
  return b;
}

void upstream_pool::return_buffer(upstream_connection& c) {
  // As many buffers are kept as exchanges ran at once; a few spare are enough.
  if (c.in.capacity() == response_buffer_size && free_buffers_.size() < max_free_buffers)
    free_buffers_.push_back(std::move(c.in));
  c.in = byte_buffer();
}

void upstream_pool::give_back(std::unique_ptr<upstream_connection> c) {
  bool clean = c->in.empty();
  return_buffer(*c);
  if (idle_.size() >= max_idle || !clean) return;
  c->idle_since = std::chrono::steady_clock::now();
  idle_.push_back(std::move(c));
}

void upstream_pool::discard(std::unique_ptr<upstream_connection> c) {
  if (c) return_buffer(*c);
}

}  // namespace hindsight::proxy
