#pragma once
// One client connection, from accept to close, as one coroutine whose order is the
// order of a request's life: read a head, validate it, forward it, stream the body
// while relaying the response, log the exchange, and go round again on keep-alive.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/byte_buffer.hpp"
#include "proxy/capture.hpp"
#include "proxy/chunked.hpp"
#include "proxy/debug_dispatcher.hpp"
#include "proxy/forwarding.hpp"
#include "proxy/http_head.hpp"
#include "proxy/splice_pipe.hpp"
#include "proxy/token.hpp"
#include "proxy/worker.hpp"

namespace hindsight::proxy {

// A view of a batch's buffers for async_write. Asio copies the sequence it is given
// into the operation; copying a vector would cost a malloc per write, a view costs none.
struct buffer_view {
  const net::const_buffer* first = nullptr;
  const net::const_buffer* last = nullptr;
  const net::const_buffer* begin() const { return first; }
  const net::const_buffer* end() const { return last; }
};

// A batch of buffers for one gather write, which can re-encode data as chunks. The
// chunk-size lines live here until the write completes.
class chunk_batch {
 public:
  void clear() {
    buffers_.clear();
    lines_.clear();
    pieces_.clear();
  }
  void add(std::string_view bytes) {
    if (!bytes.empty()) buffers_.emplace_back(bytes.data(), bytes.size());
  }
  // Adds each piece as one chunk (size line, data, CRLF), or as is when !chunked.
  void add_pieces(const std::vector<std::string_view>& pieces, bool chunked);
  // The last chunk and the trailer section.
  void add_last_chunk(std::string_view trailers);
  bool empty() const { return buffers_.empty(); }
  buffer_view buffers() const { return {buffers_.data(), buffers_.data() + buffers_.size()}; }
  std::size_t count() const { return buffers_.size(); }
  // Scratch space for a decoder's output before add_pieces.
  std::vector<std::string_view>& pieces() { return pieces_; }

 private:
  std::vector<net::const_buffer> buffers_;
  std::deque<std::array<char, 20>> lines_;  // a deque: adding a line never moves the others
  std::vector<std::string_view> pieces_;
  std::string last_;
};

class client_session : public std::enable_shared_from_this<client_session> {
 public:
  client_session(worker& w, stream_socket socket, std::string client_ip);
  ~client_session();

  // The session keeps itself alive through `self` for as long as the coroutine runs.
  net::awaitable<void> run(std::shared_ptr<client_session> self);
  // Called on the session's thread when the server starts draining.
  void on_drain();

 private:
  enum class head_outcome { ready, closed, refused };
  // What became of the response when relaying ended.
  struct relay_result {
    int error_status = 0;        // answer with this (502, 504, 400) if no response byte was sent
    std::string error;           // why
    bool retryable = false;      // a reused app connection closed before answering
    bool response_started = false;
    bool response_complete = false;
    bool tunneled = false;
    bool close_client = false;
    int status = 0;
  };

  net::awaitable<head_outcome> read_request_head();
  net::awaitable<bool> exchange();
  bool take_body(std::vector<std::string_view>& pieces);
  bool stage_body(chunk_batch& out);
  // A new connection to the app (exchange takes a pooled one without a coroutine).
  net::awaitable<bool> connect_upstream(std::string& error, bool& timed_out);
  net::awaitable<relay_result> relay_response();
  net::awaitable<relay_result> relay_response_until_done();
  void stop_pump();
  void top_up(upstream_connection& up);
  // Moves `left` body bytes from the app's socket to the client's through pipe_, counting
  // them down. false when one side failed (client_gone_ says which).
  net::awaitable<bool> splice_body(upstream_connection& up, std::uint64_t& left, boost::system::error_code& upstream_error);
  net::awaitable<void> pump_request_body();
  // After a 101: false if the tunnel could not even start.
  net::awaitable<bool> tunnel(std::string_view to_client_first);
  net::awaitable<void> copy_until_eof(stream_socket& from, stream_socket& to, bool client_to_upstream);
  // Writes start with one non-blocking sendmsg: *_now is true when the socket took every
  // byte, which for a small exchange is nearly always, and costs no coroutine frame;
  // when false, finish_*_write writes the rest (kept in *_rest_), or is false at once
  // when the write failed. write_client / write_upstream are both steps in one.
  // `flags` MSG_MORE: a splice follows at once, and TCP is to put these bytes in one
  // segment with the spliced body instead of two (flush_client pushes them otherwise).
  bool write_client_now(buffer_view buffers, int flags);
  net::awaitable<bool> finish_client_write();
  net::awaitable<bool> write_client(buffer_view buffers);
  // Sends what MSG_MORE held back: before waiting on the app, which may be slow, and on
  // every way out of splice_body.
  void flush_client();
  bool write_upstream_now(buffer_view buffers);
  net::awaitable<bool> finish_upstream_write();
  net::awaitable<bool> write_upstream(buffer_view buffers);
  net::awaitable<void> refuse(int status, std::string_view why);
  net::awaitable<void> close_gracefully();
  net::awaitable<void> watchdog(std::shared_ptr<client_session> self);

  void set_client_deadline(std::chrono::milliseconds d, steady::time_point now = steady::now());
  void set_upstream_deadline(std::chrono::milliseconds d);
  // Ends an exchange: the access log line, and the capture when the policy keeps it.
  // `own_answer`: the bytes of the proxy's own answer, when it gave one.
  void log(int status, std::string_view error, std::string_view own_answer = {});
  void upstream_failed(std::string_view kind) { upstream_error_kind_ = kind; }
  // Checks the request's debug token and the trigger rules, after the token was
  // removed from the head: a capture rule keeps the exchange, a debug rule goes to the
  // debug dispatcher (or, while there is none, is logged and forwarded).
  void apply_rules();
  // The request of a fired debug rule: read whole, handed to the debug dispatcher, and
  // its answer written when the session (maybe a developer at a prompt) is over.
  net::awaitable<bool> debug_exchange();

  worker& worker_;
  const proxy_options& options_;
  // The app's response heads are trusted further than clients' requests: an app may set
  // many cookies. Their limits only guard the proxy's memory.
  const head_limits response_limits_{options_.limits.max_request_line, std::max<std::size_t>(options_.limits.max_head_size, 64 * 1024), 1000};
  stream_socket client_;
  std::string client_ip_;  // empty for unix-socket peers
  std::string client_label_;

  net::steady_timer timer_;
  steady::time_point client_deadline_ = steady::time_point::max();
  steady::time_point upstream_deadline_ = steady::time_point::max();
  bool client_timed_out_ = false;
  bool upstream_timed_out_ = false;
  bool idle_wait_ = false;  // waiting for the first byte of a request
  bool closed_ = false;

  byte_buffer in_;            // bytes from the client
  std::size_t head_searched_ = 0;
  request_head request_;
  std::string method_, target_;  // copies for the log, which outlives the head's buffer
  std::size_t head_size_ = 0;
  unsigned requests_ = 0;
  std::string upstream_head_, client_head_;
  // What is written next to the app (the head and the body bytes already buffered), to
  // the app by the body pump, and to the client by the relay: three independent batches.
  chunk_batch upstream_out_, pump_out_, client_out_;
  // What a write left for finish_client_write / finish_upstream_write: views into the
  // memory the batches above point at (client_head_, upstream_head_, in_, the app
  // connection's buffer, chunk-size lines), which stays put until that write is done.
  std::vector<net::const_buffer> client_rest_, upstream_rest_;

  // Request body progress.
  std::uint64_t body_left_ = 0;  // content-length framing
  chunked_decoder request_chunks_;
  chunked_decoder response_chunks_;
  bool body_done_ = true;
  bool body_failed_ = false;     // the client's chunked body was malformed mid-stream
  std::string body_error_;
  bool client_gone_ = false;
  bool response_done_ = false;
  bool pump_running_ = false;
  bool upstream_dirty_ = false;  // the app connection holds a request it did not finish reading
  std::uint64_t bytes_in_ = 0, bytes_out_ = 0;

  // Capture: the tee copies what the store may keep; the kind says how the app failed
  // ("" while it has not).
  const bool capturing_ = options_.capture.enabled;
  capture_tee tee_{options_.capture};
  bool in_exchange_ = false;
  std::string_view upstream_error_kind_;
  std::uint64_t app_exits_at_start_ = 0;

  // The debug token, removed from the head before anything else looks at it, and the
  // cookie that answers a valid one-time query token ("" when none is due).
  token_scratch token_scratch_;
  found_token token_;
  std::string set_cookie_;
  bool no_referrer_ = false;
  // Set by apply_rules when a debug rule fired and a debugger takes the request; the
  // session record goes with the exchange's capture.
  std::optional<debug_job> debug_job_;
  std::optional<store::replay_record> live_session_;

  std::unique_ptr<upstream_connection> upstream_;
  splice_pipe pipe_;
  bool client_corked_ = false;  // bytes sent with MSG_MORE may wait in the client socket
  response_head response_;
  steady::time_point started_, upstream_started_;
  bool upstream_reached_ = false;
};

}  // namespace hindsight::proxy
