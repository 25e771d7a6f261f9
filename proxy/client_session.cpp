#include "proxy/client_session.hpp"

#include "proxy/debug_dispatcher.hpp"
#include "proxy/logging.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <spdlog/spdlog.h>

namespace hindsight::proxy {

using boost::system::error_code;
using net::redirect_error;
using net::use_awaitable;

namespace {

constexpr std::size_t head_read_size = 4096;
constexpr std::size_t body_read_size = 64 * 1024;
// A response's first read takes at most this much: a large body's rest may then go to
// the client by splice(2), never copied into this process.
constexpr std::size_t response_head_window = 16 * 1024;
// Bodies (or what is left of them) from this size are spliced; smaller ones cost more
// in the extra system calls than the copy they save.
constexpr std::uint64_t splice_min_bytes = 32 * 1024;
constexpr std::string_view continue_100 = "HTTP/1.1 100 Continue\r\n\r\n";
// After an error answer, unread request bytes are drained for a while before closing,
// so that the kernel does not reset the connection and destroy the answer (nginx's
// lingering close).
// A debug request's body is held in memory for the worker, which gets it whole.
constexpr std::uint64_t max_debug_body = 64ull << 20;
constexpr auto linger_time = std::chrono::seconds(2);
constexpr std::size_t linger_bytes = 1 << 20;

double ms_between(steady::time_point a, steady::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// One sendmsg of `buffers` that never waits: the bytes the socket took (0 when it would
// block), or -1 on an error (errno says which). A write that completes here skips
// Asio's operation, its trip through the scheduler and the coroutine's suspension —
// for a small response, most of what a write costs apart from the system call.
ssize_t send_now(int fd, buffer_view buffers, int flags) {
  iovec iov[64];
  std::size_t count = 0;
  for (auto& b : buffers) {
    if (count == std::size(iov)) break;  // the rest goes with what is left
    iov[count++] = {const_cast<void*>(b.data()), b.size()};
  }
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = count;
  for (;;) {
    ssize_t n = ::sendmsg(fd, &msg, flags | MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) return n;
    if (errno != EINTR) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
  }
}

// The part of `buffers` after its first `sent` bytes, into `rest` (left empty when they
// were all sent).
void left_after(buffer_view buffers, std::size_t sent, std::vector<net::const_buffer>& rest) {
  rest.clear();
  for (auto& b : buffers) {
    auto skip = std::min(b.size(), sent);
    sent -= skip;
    if (skip < b.size()) rest.emplace_back(static_cast<const char*>(b.data()) + skip, b.size() - skip);
  }
}

}  // namespace

void chunk_batch::add_pieces(const std::vector<std::string_view>& pieces, bool chunked) {
  for (auto p : pieces) {
    if (p.empty()) continue;
    if (!chunked) {
      add(p);
      continue;
    }
    auto& line = lines_.emplace_back();
    auto n = format_chunk_size(line.data(), p.size());
    buffers_.emplace_back(line.data(), n);
    buffers_.emplace_back(p.data(), p.size());
    buffers_.emplace_back("\r\n", 2);
  }
}

void chunk_batch::add_last_chunk(std::string_view trailers) {
  last_.assign("0\r\n").append(trailers).append("\r\n");
  add(last_);
}

client_session::client_session(worker& w, stream_socket socket, std::string client_ip)
    : worker_(w),
      options_(w.shared.options),
      client_(std::move(socket)),
      client_ip_(std::move(client_ip)),
      client_label_(client_ip_.empty() ? "unix" : client_ip_),
      timer_(client_.get_executor()) {
  worker_.sessions.insert(this);
}

client_session::~client_session() {
  worker_.sessions.erase(this);
  worker_.open.fetch_sub(1, std::memory_order_relaxed);
  worker_.shared.connections.fetch_sub(1, std::memory_order_relaxed);
}

void client_session::on_drain() {
  error_code ec;
  if (idle_wait_) client_.cancel(ec);
}

// Deadlines: one timer per session serves both sides. It wakes at the earlier deadline
// and cancels the operations of the side that missed it; the operation then fails with
// operation_aborted and the flag says why.
void client_session::set_client_deadline(std::chrono::milliseconds d, steady::time_point now) {
  client_timed_out_ = false;
  client_deadline_ = now + d;
  if (client_deadline_ < timer_.expiry()) timer_.cancel();
}

void client_session::set_upstream_deadline(std::chrono::milliseconds d) {
  upstream_timed_out_ = false;
  upstream_deadline_ = steady::now() + d;
  if (upstream_deadline_ < timer_.expiry()) timer_.cancel();
}

net::awaitable<void> client_session::watchdog(std::shared_ptr<client_session> /*self: keeps the session alive*/) {
  error_code ec;
  while (!closed_) {
    auto now = steady::now();
    if (client_deadline_ <= now) {
      client_deadline_ = steady::time_point::max();
      client_timed_out_ = true;
      client_.cancel(ec);
    }
    if (upstream_deadline_ <= now) {
      upstream_deadline_ = steady::time_point::max();
      upstream_timed_out_ = true;
      if (upstream_) upstream_->socket.cancel(ec);
    }
    timer_.expires_at(std::min(client_deadline_, upstream_deadline_));
    co_await timer_.async_wait(redirect_error(use_awaitable, ec));
  }
}

net::awaitable<void> client_session::run(std::shared_ptr<client_session> self) {
  net::co_spawn(client_.get_executor(), watchdog(self), net::detached);
  try {
    for (;;) {
      if (co_await read_request_head() != head_outcome::ready) break;
      if (!co_await exchange()) break;
    }
  } catch (const std::exception& e) {
    // A bug, not a client's doing: this connection ends, and with it everything it held
    // (the watchdog, the count of open connections); the other connections go on.
    spdlog::error("connection from {} ended by an internal error: {}", client_label_, e.what());
  }
  closed_ = true;
  timer_.cancel();
  error_code ec;
  client_.close(ec);
  if (upstream_) upstream_->socket.close(ec);
}

net::awaitable<client_session::head_outcome> client_session::read_request_head() {
  head_searched_ = 0;
  // The exchange starts with its first byte (below, when none is here yet).
  if (!in_.empty()) started_ = steady::now();
  method_.clear();
  target_.clear();
  if (in_.empty()) in_.shrink_to(head_read_size);
  // The head must arrive within --header-timeout of its first byte; before that, a
  // kept-alive connection may stay silent for --idle-timeout.
  bool first_request = requests_ == 0;
  set_client_deadline(in_.empty() && !first_request ? options_.idle_timeout : options_.header_timeout);
  error_code ec;
  for (;;) {
    if (!in_.empty()) {
      auto r = parse_request_head(in_.data(), request_, options_.limits, &head_searched_);
      if (r.state == parse_state::complete) {
        idle_wait_ = false;
        head_size_ = r.head_size;
        co_return head_outcome::ready;
      }
      if (r.state == parse_state::failed) {
        idle_wait_ = false;
        co_await refuse(r.error.status, r.error.reason);
        co_return head_outcome::refused;
      }
    }
    idle_wait_ = in_.empty();
    if (idle_wait_ && worker_.shared.draining) co_return head_outcome::closed;
    auto space = in_.prepare(head_read_size, options_.limits.max_head_size + head_read_size);
    if (space.empty()) {
      // The parser refuses a head before it fills the buffer; this is the backstop that
      // keeps a read of zero bytes (which completes at once) from spinning.
      co_await refuse(431, "the request head is larger than " + std::to_string(options_.limits.max_head_size) + " bytes");
      co_return head_outcome::refused;
    }
    auto n = co_await client_.async_read_some(net::buffer(space.data(), space.size()), redirect_error(use_awaitable, ec));
    if (ec) {
      idle_wait_ = false;
      if (client_timed_out_ && !in_.empty()) {
        co_await refuse(408, "the request head did not arrive within " + duration_text(options_.header_timeout));
        co_return head_outcome::refused;
      }
      if (!in_.empty() && ec == net::error::eof)
        spdlog::debug("{}: the client closed the connection in the middle of a request head", client_label_);
      co_return head_outcome::closed;
    }
    if (in_.empty()) {
      // The exchange starts with its first byte: a browser opens connections before it
      // has anything to send, and that wait is not the request's.
      started_ = steady::now();
      if (!first_request) set_client_deadline(options_.header_timeout, started_);
    }
    in_.commit(n);
  }
}

// Takes the request body bytes buffered in in_, chunked coding removed: views into in_,
// valid until more is read. false when they break the chunked coding (body_error_ says how).
bool client_session::take_body(std::vector<std::string_view>& pieces) {
  pieces.clear();
  if (request_.framing == body_framing::content_length) {
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(in_.size(), body_left_));
    if (n) pieces.push_back(in_.data().substr(0, n));
    in_.consume(n);
    body_left_ -= n;
    body_done_ = body_left_ == 0;
  } else if (request_.framing == body_framing::chunked) {
    auto consumed = request_chunks_.feed(in_.data(), pieces);
    if (request_chunks_.failed()) {
      body_error_ = "malformed chunked request body: " + request_chunks_.error();
      return false;
    }
    in_.consume(consumed);
    body_done_ = request_chunks_.done();
  }
  for (auto p : pieces) {
    bytes_in_ += p.size();
    if (capturing_) tee_.request_body(p);
  }
  return true;
}

// Moves the request body bytes buffered in in_ into `out`, re-encoded as the app gets
// them; false when they break the chunked coding.
bool client_session::stage_body(chunk_batch& out) {
  auto& pieces = out.pieces();
  if (!take_body(pieces)) return false;
  if (request_.framing == body_framing::chunked) {
    out.add_pieces(pieces, true);
    if (request_chunks_.done()) out.add_last_chunk(request_chunks_.trailers());
  } else {
    for (auto p : pieces) out.add(p);
  }
  return true;
}

net::awaitable<bool> client_session::exchange() {
  ++requests_;
  bytes_in_ = bytes_out_ = 0;
  response_done_ = client_gone_ = body_failed_ = upstream_reached_ = upstream_dirty_ = client_corked_ = false;
  // The last exchange's deadline on the app is not this one's: a pooled connection that
  // fails at once is "reset", not "timeout".
  upstream_timed_out_ = false;
  upstream_deadline_ = steady::time_point::max();
  body_error_.clear();
  method_.assign(request_.method);
  // Whatever happens next, the app, the log and the store never see a debug token.
  token_ = strip_debug_token(request_, token_scratch_);
  target_.assign(request_.target);

  upstream_error_kind_ = {};
  in_exchange_ = true;
  if (capturing_) {
    auto raw_head = in_.data().substr(0, head_size_);
    if (token_.stripped) tee_.begin(head_without_token(raw_head, request_, token_));
    else tee_.begin(raw_head);
    if (worker_.shared.hooks.app_exits) app_exits_at_start_ = worker_.shared.hooks.app_exits(false);
  }
  apply_rules();
  if (debug_job_) co_return co_await debug_exchange();

  upstream_head_.clear();
  write_upstream_request_head(request_, client_ip_, upstream_head_);
  // The head's views stay valid after consume(): memory moves only when more is read.
  in_.consume(head_size_);
  body_left_ = request_.framing == body_framing::content_length ? request_.content_length : 0;
  body_done_ = request_.framing == body_framing::none;
  request_chunks_ = chunked_decoder{};
  // Everything already received is validated before the app sees a byte, so a malformed
  // chunked body sent with its head is refused without reaching the app.
  upstream_out_.clear();
  upstream_out_.add(upstream_head_);
  if (!stage_body(upstream_out_)) {
    co_await refuse(400, body_error_);
    co_return false;
  }
  std::string error;
  // A request may be sent again after a pooled connection failed only if all of it is
  // still at hand and sending it twice is harmless: the app may have acted on it before
  // dying (RFC 9110 §9.2.2; nginx's proxy_next_upstream does the same).
  const auto& m = request_.method;
  const bool retryable = body_done_ && (m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "PUT" ||
                                        m == "DELETE" || m == "TRACE");
  const bool body_buffered = upstream_out_.count() > 1;

  upstream_started_ = steady::now();
  relay_result result;
  for (int attempt = 0;; ++attempt) {
    // Apps close idle connections after a few seconds (gunicorn gthread: 2 s); one used
    // within the last half second is trusted without a check when a retry is possible.
    upstream_ = worker_.pool.take_idle(retryable && attempt == 0 ? std::chrono::milliseconds(500)
                                                                 : std::chrono::milliseconds(0));
    if (!upstream_) {
      bool timed_out = false;
      if (!co_await connect_upstream(error, timed_out)) {
        co_await refuse(timed_out ? 504 : 502, error);
        co_return false;
      }
    }
    upstream_reached_ = true;
    if (attempt == 0 && request_.expect_continue && !body_done_ && !body_buffered) {
      // RFC 9110 §10.1.1: the client waits for this before sending the body.
      error_code ec;
      set_client_deadline(options_.body_timeout);
      co_await net::async_write(client_, net::buffer(continue_100), redirect_error(use_awaitable, ec));
      if (ec) {
        log(0, "the client went away before sending its body");
        co_return false;
      }
    }
    bool written = write_upstream_now(upstream_out_.buffers());
    if (!written) written = co_await finish_upstream_write();
    if (!written) {
      result = relay_result{};
      result.error_status = upstream_timed_out_ ? 504 : 502;
      result.error = "the connection to the app failed while the request was sent";
      upstream_failed(upstream_timed_out_ ? "timeout" : "reset");
      result.retryable = upstream_->reused;
    } else if (!body_done_) {
      using namespace net::experimental::awaitable_operators;
      result = co_await (pump_request_body() && relay_response());
    } else {
      result = co_await relay_response_until_done();  // no pump to stop
    }
    // A kept-alive connection the app closed just as it was reused: send the request
    // again on a new one, when all of it is still at hand.
    if (result.retryable && retryable && attempt == 0) {
      spdlog::debug("{}: a reused connection to the app was closed; retrying on a new one", client_label_);
      worker_.pool.discard(std::move(upstream_));
      upstream_error_kind_ = {};  // the first attempt's failure is not the exchange's
      continue;
    }
    break;
  }

  if (!result.response_started) {
    worker_.pool.discard(std::move(upstream_));
    if (client_gone_) {
      log(0, body_error_.empty() ? "the client went away" : body_error_);
      co_return false;
    }
    if (body_failed_) co_await refuse(400, body_error_);
    else co_await refuse(result.error_status ? result.error_status : 502, result.error);
    co_return false;
  }
  log(result.status, result.error);
  if (result.response_complete && !result.tunneled && !upstream_dirty_ && response_.keep_alive &&
      response_.framing != body_framing::until_close && body_done_ && upstream_->in.empty() && !upstream_timed_out_) {
    // A response without a body (HEAD, 204, 304) is where an app wrongly sends one
    // anyway, perhaps a moment later; such bytes would be read as the next response.
    upstream_->check_before_reuse = response_.framing == body_framing::none;
    worker_.pool.give_back(std::move(upstream_));
  }
  worker_.pool.discard(std::move(upstream_));
  if (!result.response_complete) co_return false;  // a partial response: only closing tells the client
  if (!body_done_) {
    co_await close_gracefully();
    co_return false;
  }
  co_return !result.close_client && !worker_.shared.draining;
}

void client_session::apply_rules() {
  set_cookie_.clear();
  // A page opened from a link with a token, valid or not, must not pass its address on
  // to the app (or other sites) in the Referer of what it loads.
  no_referrer_ = token_.in_query;
  const auto& hooks = worker_.shared.hooks;
  auto rules = hooks.rules ? hooks.rules->current() : nullptr;
  if (!rules && !token_.in_query) return;  // the common case: no rules, no one-time token

  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto now_s = duration_cast<seconds>(now.time_since_epoch()).count();
  bool token_valid = false;
  if (token_.source != token_source::none && hooks.token_key) {
    token_info info;
    token_valid = verify_token(*hooks.token_key, token_.value, now_s, &info) == token_status::valid;
    // A one-time link: the browser keeps the token as a cookie for its remaining life.
    if (token_valid && token_.source == token_source::query) set_cookie_ = token_set_cookie(token_.value, info.expires_s - now_s);
    // A link's token counts even when the browser also sent an older (expired) cookie,
    // and replaces it.
    if (!token_valid && !token_.query_value.empty() &&
        verify_token(*hooks.token_key, token_.query_value, now_s, &info) == token_status::valid) {
      token_valid = true;
      set_cookie_ = token_set_cookie(token_.query_value, info.expires_s - now_s);
    }
  }
  if (!rules) return;
  request_view view{request_.method, request_.origin_target, &request_.fields, client_ip_};
  const auto* fired = rules->fire(view, token_valid, duration_cast<microseconds>(now.time_since_epoch()).count());
  if (!fired) return;
  const auto& rule = fired->record();
  if (fired->action() == rule_action::capture) {
    if (capturing_) tee_.keep_for_rule();
    spdlog::debug("{} {} {}: rule '{}' fired (capture)", client_label_, method_, target_, rule.name);
    return;
  }
  if (hooks.debug) {
    debug_job_.emplace();
    debug_job_->rule = rule.name;
    debug_job_->action = fired->action();
    debug_job_->action_arg = rule.action_arg;
    return;
  }
  spdlog::warn("{} {} {}: rule '{}' fired ({}{}{}), but live debugging is off in this proxy (its start-up log says "
               "why): the request goes to the app unchanged, without its debug token",
               client_label_, method_, target_, rule.name, to_string(fired->action()), rule.action_arg.empty() ? "" : " ",
               rule.action_arg);
}

namespace {

// Hands the job to the dispatcher and resumes on this session's executor with its
// answer, however long the debug session takes.
net::awaitable<debug_answer> wait_for_debugger(debug_dispatcher& dispatcher, debug_job job) {
  auto executor = co_await net::this_coro::executor;
  co_return co_await net::async_initiate<decltype(use_awaitable), void(debug_answer)>(
      [&dispatcher, executor](auto handler, debug_job job) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        dispatcher.submit(std::move(job), [shared, executor](debug_answer answer) {
          net::post(executor, [shared, answer = std::move(answer)]() mutable { (*shared)(std::move(answer)); });
        });
      },
      use_awaitable, std::move(job));
}

}  // namespace

net::awaitable<bool> client_session::debug_exchange() {
  debug_job job = std::move(*debug_job_);
  debug_job_.reset();
  if (capturing_) tee_.keep_for_rule();
  auto raw_head = in_.data().substr(0, head_size_);
  if (token_.stripped) fill_request_parts(job.request, head_without_token(raw_head, request_, token_));
  else fill_request_parts(job.request, raw_head);
  job.request.client = client_ip_.empty() ? "unix" : client_ip_;
  in_.consume(head_size_);

  body_left_ = request_.framing == body_framing::content_length ? request_.content_length : 0;
  body_done_ = request_.framing == body_framing::none;
  request_chunks_ = chunked_decoder{};
  auto too_large = "a debug request's body is held in memory for the debug worker: at most " +
                   std::to_string(max_debug_body >> 20) + " MiB";
  if (body_left_ > max_debug_body) {
    co_await refuse(413, too_large);
    co_return false;
  }
  error_code ec;
  if (request_.expect_continue && !body_done_ && in_.empty()) {
    set_client_deadline(options_.body_timeout);
    co_await net::async_write(client_, net::buffer(continue_100), redirect_error(use_awaitable, ec));
    if (ec) {
      log(0, "the client went away before sending its body");
      co_return false;
    }
  }
  std::string& body = job.request.request_body;
  std::vector<std::string_view> pieces;
  for (;;) {
    if (!take_body(pieces)) {
      co_await refuse(400, body_error_);
      co_return false;
    }
    for (auto p : pieces) body.append(p);
    if (body_done_) break;
    if (body.size() > max_debug_body) {
      co_await refuse(413, too_large);
      co_return false;
    }
    set_client_deadline(options_.body_timeout);
    auto space = in_.prepare(body_read_size, std::max(body_read_size, options_.limits.max_head_size + head_read_size));
    auto n = co_await client_.async_read_some(net::buffer(space.data(), space.size()), redirect_error(use_awaitable, ec));
    if (ec) {
      log(0, client_timed_out_ ? "the client sent no request body bytes for " + duration_text(options_.body_timeout)
                               : std::string("the client closed the connection before the request body ended"));
      co_return false;
    }
    in_.commit(n);
  }
  job.request.request_body_size = body.size();
  if (request_.framing == body_framing::chunked) {
    // The worker gets the body decoded: framed by its length, as gunicorn would have
    // read it, so that a body which itself looks chunked is not decoded twice.
    std::string fields;
    std::string_view rest = job.request.request_headers;
    while (!rest.empty()) {
      auto end = rest.find("\r\n");
      auto line = rest.substr(0, end == std::string_view::npos ? rest.size() : end + 2);
      rest.remove_prefix(line.size());
      auto colon = line.find(':');
      if (colon != std::string_view::npos && iequals(line.substr(0, colon), "Transfer-Encoding")) continue;
      fields += line;
    }
    fields += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    job.request.request_headers = std::move(fields);
  }

  // The developer takes their time: no deadline while the session runs.
  client_deadline_ = steady::time_point::max();
  upstream_reached_ = true;
  upstream_started_ = steady::now();
  auto answer = co_await wait_for_debugger(*worker_.shared.hooks.debug, std::move(job));

  std::string head = "HTTP/1.1 " + std::to_string(answer.status) + " " + answer.reason + "\r\n";
  for (const auto& [name, value] : answer.headers) head += name + ": " + value + "\r\n";
  // A 304's length would be the representation's, which the worker did not send.
  if (answer.status != 204 && answer.status != 304)
    head += "Content-Length: " + std::to_string(answer.body.size()) + "\r\n";
  const bool keep_alive = request_.keep_alive && !worker_.shared.draining;
  if (!keep_alive) head += "Connection: close\r\n";
  // What the store keeps: the answer without the token's cookie.
  const std::string stored_head = head + "\r\n";
  if (!set_cookie_.empty()) head += "Set-Cookie: " + set_cookie_ + "\r\n";
  if (no_referrer_) head += "Referrer-Policy: no-referrer\r\n";
  head += "\r\n";
  // method_, not request_.method: the head's views into the client buffer are gone once
  // the body was read.
  std::string_view body_out = method_ == "HEAD" ? std::string_view{} : std::string_view(answer.body);
  std::array<net::const_buffer, 2> buffers{net::buffer(head), net::buffer(body_out.data(), body_out.size())};
  set_client_deadline(options_.body_timeout);
  co_await net::async_write(client_, buffers, redirect_error(use_awaitable, ec));
  if (!ec) bytes_out_ += head.size() + body_out.size();

  // The session happened whether or not the client stayed for its answer: it is kept.
  if (capturing_) live_session_ = std::move(answer.session);
  std::string error = answer.error;
  if (ec) error = (error.empty() ? "" : error + "; ") + "the client went away before the debug session's answer";
  if (answer.error.empty()) {
    if (capturing_) {
      tee_.response_head(stored_head, answer.status);
      tee_.response_body(answer.body);
    }
    log(answer.status, error);
  } else {
    upstream_error_kind_ = answer.error_kind;
    log(answer.status, error, stored_head + answer.body);
    upstream_error_kind_ = {};
  }
  live_session_.reset();
  if (ec || !keep_alive) co_return false;
  co_return true;
}

net::awaitable<bool> client_session::connect_upstream(std::string& error, bool& timed_out) {
  upstream_ = worker_.pool.fresh();
  error_code ec;
  set_upstream_deadline(options_.connect_timeout);
  co_await upstream_->socket.async_connect(worker_.pool.endpoint(), redirect_error(use_awaitable, ec));
  if (!ec) {
    ::fcntl(upstream_->socket.native_handle(), F_SETFD, FD_CLOEXEC);  // see accept_loop
    if (worker_.pool.tcp()) upstream_->socket.set_option(net::ip::tcp::no_delay(true), ec);
    co_return true;
  }
  timed_out = upstream_timed_out_;
  auto where = options_.upstream.to_string();
  error = timed_out ? "the app did not accept a connection at " + where + " within " + duration_text(options_.connect_timeout)
                    : "the app is unreachable at " + where + ": " + ec.message();
  upstream_failed(timed_out ? "timeout" : "unreachable");
  if (worker_.shared.hooks.app_hint) {
    auto hint = worker_.shared.hooks.app_hint();
    if (!hint.empty()) error += " (" + hint + ")";
  }
  worker_.pool.discard(std::move(upstream_));
  co_return false;
}

bool client_session::write_upstream_now(buffer_view buffers) {
  auto sent = send_now(upstream_->socket.native_handle(), buffers, 0);
  if (sent < 0) {
    upstream_rest_.clear();
    return false;
  }
  left_after(buffers, static_cast<std::size_t>(sent), upstream_rest_);
  return upstream_rest_.empty();
}

net::awaitable<bool> client_session::finish_upstream_write() {
  if (upstream_rest_.empty()) co_return false;  // the write failed
  error_code ec;
  set_upstream_deadline(options_.upstream_timeout);
  co_await net::async_write(upstream_->socket, upstream_rest_, redirect_error(use_awaitable, ec));
  co_return !ec;
}

bool client_session::write_client_now(buffer_view buffers, int flags) {
  auto sent = send_now(client_.native_handle(), buffers, flags);
  if (sent < 0) {
    client_gone_ = true;
    client_rest_.clear();
    return false;
  }
  left_after(buffers, static_cast<std::size_t>(sent), client_rest_);
  if (!client_rest_.empty()) return false;
  if (flags & MSG_MORE) client_corked_ = true;
  return true;
}

net::awaitable<bool> client_session::finish_client_write() {
  if (client_rest_.empty()) co_return false;  // the write failed
  // What the socket did not take waits for room, and goes without MSG_MORE (rare: the
  // send buffer is full, so TCP has segments in flight and sends the rest anyway).
  error_code ec;
  set_client_deadline(options_.body_timeout);
  co_await net::async_write(client_, client_rest_, redirect_error(use_awaitable, ec));
  if (ec) client_gone_ = true;
  co_return !ec;
}

net::awaitable<bool> client_session::write_client(buffer_view buffers) {
  if (write_client_now(buffers, 0)) co_return true;
  co_return co_await finish_client_write();
}

net::awaitable<bool> client_session::write_upstream(buffer_view buffers) {
  if (write_upstream_now(buffers)) co_return true;
  co_return co_await finish_upstream_write();
}

void client_session::flush_client() {
  if (!client_corked_) return;
  client_corked_ = false;
  // Setting TCP_NODELAY (already on) pushes what the socket holds (tcp(7)).
  int on = 1;
  ::setsockopt(client_.native_handle(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

net::awaitable<void> client_session::pump_request_body() {
  auto& up = *upstream_;
  error_code ec;
  pump_running_ = true;
  struct running_flag {
    bool& flag;
    ~running_flag() { flag = false; }
  } running{pump_running_};
  while (!body_done_ && !response_done_) {
    if (in_.empty()) {
      set_client_deadline(options_.body_timeout);
      auto space = in_.prepare(body_read_size, std::max(body_read_size, options_.limits.max_head_size + head_read_size));
      auto n = co_await client_.async_read_some(net::buffer(space.data(), space.size()), redirect_error(use_awaitable, ec));
      if (response_done_) co_return;
      if (ec) {
        client_gone_ = true;
        body_error_ = client_timed_out_ ? "the client sent no request body bytes for " + duration_text(options_.body_timeout)
                                        : "the client closed the connection before the request body ended";
        up.socket.cancel(ec);
        co_return;
      }
      in_.commit(n);
    }
    pump_out_.clear();
    if (!stage_body(pump_out_)) {
      body_failed_ = true;
      up.socket.cancel(ec);
      co_return;
    }
    if (!pump_out_.empty()) {
      set_upstream_deadline(options_.upstream_timeout);
      co_await net::async_write(up.socket, pump_out_.buffers(), redirect_error(use_awaitable, ec));
      // The app stopped reading: it has answered already, or it is gone. The relay finds out which.
      if (ec) co_return;
    }
  }
}

net::awaitable<client_session::relay_result> client_session::relay_response() {
  auto r = co_await relay_response_until_done();
  // However the response ended, a body pump still waiting on the client must stop now:
  // the client gets its answer (or 502) without finishing its upload first.
  stop_pump();
  co_return r;
}

void client_session::top_up(upstream_connection& up) {
  // What the app has sent already goes into the same write to the client: reading
  // without waiting until the buffer is full or the socket is drained turns a response
  // that arrives in pieces (a head, then a sendfile body) into few large writes.
  error_code ec;
  // Asio remembers the mode but sets it with an ioctl every time it is asked to.
  if (!up.socket.non_blocking()) up.socket.non_blocking(true, ec);
  for (;;) {
    auto space = up.in.prepare(1, up.in.capacity());
    if (space.empty()) return;
    auto n = up.socket.read_some(net::buffer(space.data(), space.size()), ec);
    if (ec) return;  // would_block, or an end the next asynchronous read reports
    up.in.commit(n);
    if (n < space.size()) return;  // drained: another try would only say would_block
  }
}

net::awaitable<bool> client_session::splice_body(upstream_connection& up, std::uint64_t& left, error_code& ec) {
  // SPLICE_F_NONBLOCK covers the pipe only; the sockets must not block either.
  // (Asked only once per socket: each call is an ioctl.)
  error_code ignored;
  if (!up.socket.non_blocking()) up.socket.non_blocking(true, ignored);
  if (!client_.non_blocking()) client_.non_blocking(true, ignored);
  const int from = up.socket.native_handle(), to = client_.native_handle();
  constexpr unsigned flags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
  // Whichever way this ends, what MSG_MORE held goes out now: the connection may be
  // closed next with the client's unread bytes in it, and that close is a reset, which
  // would throw away the response's start still waiting in the socket.
  struct push_at_exit {
    client_session& session;
    ~push_at_exit() { session.flush_client(); }
  } push{*this};
  while (left > 0 || pipe_.held > 0) {
    bool app_has_more = true;
    if (left > 0 && pipe_.held < pipe_.capacity()) {
      auto want = std::min<std::uint64_t>(left, pipe_.capacity() - pipe_.held);
      ssize_t n = ::splice(from, nullptr, pipe_.write_end(), nullptr, want, flags);
      if (n > 0) {
        pipe_.held += static_cast<std::size_t>(n);
        left -= static_cast<std::uint64_t>(n);
        bytes_out_ += static_cast<std::uint64_t>(n);
        if (capturing_) tee_.response_body_passed(static_cast<std::uint64_t>(n));
      } else if (n == 0) {
        ec = net::error::eof;
        pipe_.close();
        co_return false;
      } else if (errno == EAGAIN) {
        app_has_more = false;  // or the pipe is full: either way, empty it first
      } else if (errno != EINTR) {
        ec = error_code(errno, boost::system::system_category());
        pipe_.close();
        co_return false;
      }
    }
    if (pipe_.held == 0) {
      if (!app_has_more) {
        flush_client();
        set_upstream_deadline(options_.upstream_timeout);
        co_await up.socket.async_wait(net::socket_base::wait_read, redirect_error(use_awaitable, ec));
        if (ec) {
          pipe_.close();
          co_return false;
        }
      }
      continue;
    }
    ssize_t m = ::splice(pipe_.read_end(), nullptr, to, nullptr, pipe_.held, flags);
    if (m > 0) {
      pipe_.held -= static_cast<std::size_t>(m);
      client_corked_ = false;  // sent without SPLICE_F_MORE: everything went out
    } else if (m < 0 && errno == EAGAIN) {
      set_client_deadline(options_.body_timeout);
      error_code client_ec;
      co_await client_.async_wait(net::socket_base::wait_write, redirect_error(use_awaitable, client_ec));
      if (client_ec) {
        client_gone_ = true;
        pipe_.close();
        co_return false;
      }
    } else if (m == 0 || errno != EINTR) {
      client_gone_ = true;
      pipe_.close();
      co_return false;
    }
  }
  co_return true;
}

void client_session::stop_pump() {
  if (response_done_) return;
  response_done_ = true;
  // The pump may wait on the client (more body) or on the app (which answered without
  // reading it all): either way it must end now, and the app connection, with an
  // unfinished request in it, is not reused.
  if (pump_running_) {
    error_code ignored;
    client_.cancel(ignored);
    if (upstream_) upstream_->socket.cancel(ignored);
    upstream_dirty_ = true;
  }
}

net::awaitable<client_session::relay_result> client_session::relay_response_until_done() {
  relay_result r;
  auto& up = *upstream_;
  error_code ec;
  const std::size_t up_max = std::max(body_read_size, options_.limits.max_head_size + head_read_size);
  set_upstream_deadline(options_.upstream_timeout);

  auto read_failed = [&](bool any_response_byte) {
    if (upstream_timed_out_) {
      r.error_status = 504;
      r.error = "the app did not answer within " + duration_text(options_.upstream_timeout);
      upstream_failed("timeout");
    } else {
      upstream_failed(ec == net::error::eof ? "closed" : "reset");
      r.error_status = 502;
      r.error = ec == net::error::eof ? "the app closed the connection before a complete response"
                                      : "the connection to the app failed: " + ec.message();
      r.retryable = up.reused && !any_response_byte && (ec == net::error::eof || ec == net::error::connection_reset);
    }
  };

  // The head, after any interim (1xx) responses.
  bool any_byte = false;
  for (;;) {
    if (!up.in.empty()) {
      any_byte = true;
      auto pr = parse_response_head(up.in.data(), method_, response_, response_limits_);
      if (pr.state == parse_state::failed) {
        r.error_status = 502;
        r.error = pr.error.reason;
        upstream_failed("malformed");
        co_return r;
      }
      if (pr.state == parse_state::complete) {
        if (response_.status >= 200 || response_.status == 101) {
          head_size_ = pr.head_size;
          break;
        }
        // 100 Continue is the proxy's to send (or not); other 1xx go to HTTP/1.1 clients.
        if (response_.status != 100 && request_.version == 11) {
          client_head_.clear();
          write_interim_response_head(response_, client_head_);
          client_out_.clear();
          client_out_.add(client_head_);
          if (!co_await write_client(client_out_.buffers())) co_return r;
        }
        up.in.consume(pr.head_size);
        continue;
      }
    }
    auto space = up.in.prepare(head_read_size, up_max);
    auto n = co_await up.socket.async_read_some(
        net::buffer(space.data(), std::min(space.size(), std::max(head_read_size, response_head_window - up.in.size()))),
        redirect_error(use_awaitable, ec));
    if (ec) {
      if (!client_gone_ && !body_failed_) read_failed(any_byte);
      co_return r;
    }
    up.in.commit(n);
  }

  r.status = response_.status;
  if (capturing_) tee_.response_head(up.in.data().substr(0, head_size_), response_.status);
  client_head_.clear();
  auto plan = write_client_response_head(response_, request_, worker_.shared.draining || !body_done_, client_head_);
  // The page's address holds the one-time token: no-referrer keeps the browser from
  // sending it to the app (and to other sites) in the Referer of what the page loads.
  // Last, so it wins over a policy of the app's own (W3C Referrer Policy §11.1).
  if (!set_cookie_.empty()) client_head_.insert(client_head_.size() - 2, "Set-Cookie: " + set_cookie_ + "\r\n");
  if (no_referrer_) client_head_.insert(client_head_.size() - 2, "Referrer-Policy: no-referrer\r\n");
  r.close_client = plan.close;
  up.in.consume(head_size_);

  if (plan.framing == client_framing::tunnel) {
    if (!request_.upgrade) {
      r.error_status = 502;
      r.error = "the app switched protocols without being asked to";
      upstream_failed("malformed");
      co_return r;
    }
    r.response_started = true;
    r.tunneled = true;  // the app's end now speaks another protocol: never pooled again
    stop_pump();
    r.response_complete = co_await tunnel(client_head_);
    co_return r;
  }

  client_out_.clear();
  client_out_.add(client_head_);
  r.response_started = true;
  const bool chunked_out = plan.framing == client_framing::chunked;
  // Sends client_out_: true when the socket took all of it at once (the common case,
  // which needs no coroutine); otherwise finish_send writes the rest or reports failure.
  auto sent_at_once = [&](int flags = 0) {
    if (client_out_.empty()) return true;
    if (!write_client_now(client_out_.buffers(), flags)) return false;
    client_out_.clear();
    return true;
  };
  auto finish_send = [&]() -> net::awaitable<bool> {
    bool ok = co_await finish_client_write();
    client_out_.clear();
    co_return ok;
  };
  auto read_more = [&]() -> net::awaitable<bool> {
    set_upstream_deadline(options_.upstream_timeout);
    auto space = up.in.prepare(body_read_size, up_max);
    auto n = co_await up.socket.async_read_some(net::buffer(space.data(), space.size()), redirect_error(use_awaitable, ec));
    if (ec) co_return false;
    up.in.commit(n);
    co_return true;
  };

  switch (response_.framing) {
    case body_framing::none:
      if (!sent_at_once()) {
        if (!co_await finish_send()) co_return r;
      }
      break;
    case body_framing::content_length: {
      std::uint64_t left = response_.content_length;
      for (;;) {
        // Not when the rest may be spliced: that is what the splice saves.
        if (left > up.in.size() && left - up.in.size() < splice_min_bytes) top_up(up);
        auto n = std::min<std::uint64_t>(left, up.in.size());
        client_out_.add(up.in.data().substr(0, n));
        if (capturing_) tee_.response_body(up.in.data().substr(0, n));
        const bool splice_next =
            left - n >= splice_min_bytes && (!capturing_ || !tee_.wants_response_body()) && pipe_.open();
        // Unix sockets ignore MSG_MORE: nothing held back there, nothing to push later.
        if (!sent_at_once(splice_next && !client_ip_.empty() ? MSG_MORE : 0)) {
          if (!co_await finish_send()) co_return r;
        }
        up.in.consume(n);
        left -= n;
        bytes_out_ += n;
        if (left == 0) break;
        bool more = false;
        if (splice_next) {
          if (co_await splice_body(up, left, ec)) break;
          if (client_gone_) co_return r;
        } else {
          more = co_await read_more();
        }
        if (!more) {
          r.error = "the app's response ended after " + std::to_string(response_.content_length - left) + " of " +
                    std::to_string(response_.content_length) + " bytes" + (upstream_timed_out_ ? " (timed out)" : "");
          upstream_failed(upstream_timed_out_ ? "timeout" : ec == net::error::eof ? "closed" : "reset");
          co_return r;
        }
      }
      break;
    }
    case body_framing::chunked: {
      response_chunks_ = chunked_decoder{};
      for (;;) {
        top_up(up);
        auto& pieces = client_out_.pieces();
        pieces.clear();
        auto consumed = response_chunks_.feed(up.in.data(), pieces);
        if (response_chunks_.failed()) {
          r.error = "the app sent a malformed chunked body: " + response_chunks_.error();
          upstream_failed("malformed");
          co_return r;
        }
        for (auto p : pieces) {
          bytes_out_ += p.size();
          if (capturing_) tee_.response_body(p);
        }
        client_out_.add_pieces(pieces, chunked_out);
        if (response_chunks_.done() && chunked_out) client_out_.add_last_chunk(response_chunks_.trailers());
        if (!sent_at_once()) {
          if (!co_await finish_send()) co_return r;
        }
        up.in.consume(consumed);
        if (response_chunks_.done()) break;
        if (!co_await read_more()) {
          r.error = "the app's chunked response ended before its last chunk";
          upstream_failed(upstream_timed_out_ ? "timeout" : ec == net::error::eof ? "closed" : "reset");
          co_return r;
        }
      }
      break;
    }
    case body_framing::until_close: {
      for (;;) {
        top_up(up);
        auto& pieces = client_out_.pieces();
        pieces.assign(1, up.in.data());
        bytes_out_ += up.in.size();
        if (capturing_) tee_.response_body(up.in.data());
        client_out_.add_pieces(pieces, chunked_out);
        if (!sent_at_once()) {
          if (!co_await finish_send()) co_return r;
        }
        up.in.clear();
        if (!co_await read_more()) break;
      }
      if (ec != net::error::eof) {
        r.error = "the connection to the app failed in the middle of the response: " + ec.message();
        upstream_failed(upstream_timed_out_ ? "timeout" : "reset");
        co_return r;
      }
      if (chunked_out) {
        client_out_.add_last_chunk({});
        if (!sent_at_once()) {
          if (!co_await finish_send()) co_return r;
        }
      }
      break;
    }
  }
  r.response_complete = true;
  co_return r;
}

net::awaitable<void> client_session::copy_until_eof(stream_socket& from, stream_socket& to, bool client_to_upstream) {
  std::array<char, 16 * 1024> buf;
  error_code ec;
  for (;;) {
    set_client_deadline(options_.upstream_timeout);
    set_upstream_deadline(options_.upstream_timeout);
    auto n = co_await from.async_read_some(net::buffer(buf), redirect_error(use_awaitable, ec));
    if (ec) break;
    (client_to_upstream ? bytes_in_ : bytes_out_) += n;
    co_await net::async_write(to, net::buffer(buf.data(), n), redirect_error(use_awaitable, ec));
    if (ec) break;
  }
  error_code ignored;
  if (ec == net::error::eof) {
    to.shutdown(net::socket_base::shutdown_send, ignored);  // pass the half-close on
  } else {
    client_.cancel(ignored);
    upstream_->socket.cancel(ignored);
  }
}

net::awaitable<bool> client_session::tunnel(std::string_view head) {
  // After 101 the connection carries another protocol: bytes both ways until both sides
  // have finished (RFC 9110 §7.8).
  client_out_.clear();
  client_out_.add(head);
  client_out_.add(upstream_->in.data());
  bytes_out_ += upstream_->in.size();
  if (!co_await write_client(client_out_.buffers())) co_return false;
  upstream_->in.clear();
  if (!in_.empty()) {
    upstream_out_.clear();
    upstream_out_.add(in_.data());
    bytes_in_ += in_.size();
    if (!co_await write_upstream(upstream_out_.buffers())) co_return false;
    in_.clear();
  }
  using namespace net::experimental::awaitable_operators;
  co_await (copy_until_eof(client_, upstream_->socket, true) && copy_until_eof(upstream_->socket, client_, false));
  co_return true;
}

net::awaitable<void> client_session::refuse(int status, std::string_view why) {
  auto answer = own_response(status, why);
  error_code ec;
  set_client_deadline(options_.body_timeout);
  co_await net::async_write(client_, net::buffer(answer), redirect_error(use_awaitable, ec));
  log(status, why, answer);
  if (!ec) co_await close_gracefully();
}

net::awaitable<void> client_session::close_gracefully() {
  error_code ec;
  client_.shutdown(net::socket_base::shutdown_send, ec);
  set_client_deadline(std::chrono::duration_cast<std::chrono::milliseconds>(linger_time));
  std::size_t drained = 0;
  in_.clear();
  while (!ec && drained < linger_bytes) {
    auto space = in_.prepare(head_read_size, head_read_size);
    drained += co_await client_.async_read_some(net::buffer(space.data(), space.size()), redirect_error(use_awaitable, ec));
  }
  in_.clear();
}

void client_session::log(int status, std::string_view error, std::string_view own_answer) {
  exchange_record r;
  r.client = client_label_;
  r.method = method_.empty() ? std::string_view("-") : std::string_view(method_);
  r.target = target_.empty() ? std::string_view("-") : std::string_view(target_);
  r.version = request_.version;
  r.status = status;
  r.bytes_in = bytes_in_;
  r.bytes_out = bytes_out_;
  auto now = steady::now();
  r.duration_ms = ms_between(started_, now);
  r.upstream_ms = upstream_reached_ ? ms_between(upstream_started_, now) : -1;
  r.error = error;
  log_exchange(r);
  if (status >= 500 && !error.empty()) spdlog::warn("{} {} {}: {} {}", client_label_, r.method, r.target, status, error);
  if (!in_exchange_) return;  // a refused head: nothing an app saw, nothing to replay
  in_exchange_ = false;
  if (!capturing_) return;
  exchange_outcome o;
  o.status = status;
  o.proxy_answered = !own_answer.empty();
  o.own_answer = own_answer;
  o.upstream_error_kind = upstream_error_kind_;
  if (!body_done_) tee_.request_incomplete();  // the client stopped sending, or the app stopped reading
  const auto& hooks = worker_.shared.hooks;
  if (hooks.app_exits && hooks.app_exits(!upstream_error_kind_.empty()) != app_exits_at_start_) {
    o.app_restarted = true;
    // The connection ended because the app's process did.
    if (upstream_error_kind_ == "closed" || upstream_error_kind_ == "reset") o.upstream_error_kind = "crashed";
  }
  o.error = error;
  o.client = client_label_;
  o.duration_ms = r.duration_ms;
  o.upstream_ms = r.upstream_ms;
  o.started = std::chrono::system_clock::now() -
              std::chrono::duration_cast<std::chrono::system_clock::duration>(now - started_);
  if (auto c = tee_.finish(o); c && hooks.capture) {
    if (live_session_) c->live_session = std::move(live_session_);
    hooks.capture(std::move(*c));
  }
}

}  // namespace hindsight::proxy
