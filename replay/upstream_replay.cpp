#include "replay/upstream_replay.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/json.hpp>

#include <array>
#include <string_view>
#include <type_traits>

#include "cli/capture_view.hpp"
#include "cli/text_encoding.hpp"
#include "proxy/forwarding.hpp"
#include "proxy/http_head.hpp"
#include "replay/session.hpp"

namespace hindsight::replay {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

using clock = std::chrono::steady_clock;

constexpr std::uint32_t response_header_limit = 64 * 1024;

std::string_view view(boost::beast::string_view s) { return {s.data(), s.size()}; }

// The exchange on a connected socket: the request written whole, one response read,
// at most `limit` body bytes kept.
template <class Socket>
asio::awaitable<void> exchange(Socket& socket, const upstream_request& request, std::size_t limit,
                               replay_result& r) {
  co_await asio::async_write(socket, asio::buffer(request.bytes), asio::use_awaitable);
  boost::beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.header_limit(response_header_limit);
  parser.body_limit(boost::none);  // the body is bounded below, where the rest is counted
  parser.skip(request.head);
  co_await http::async_read_header(socket, buffer, parser, asio::use_awaitable);

  std::string body;
  std::uint64_t size = 0;
  std::array<char, 64 * 1024> chunk;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    boost::system::error_code ec;
    co_await http::async_read(socket, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::need_buffer) ec = {};  // the chunk is full: progress, not failure
    if (ec) throw boost::system::system_error(ec);
    auto got = chunk.size() - parser.get().body().size;
    size += got;
    body.append(chunk.data(), std::min(got, limit - std::min(limit, body.size())));
  }

  const auto& message = parser.get();
  json::array headers;
  for (const auto& f : message)
    headers.push_back(json::array{json::string(cli::latin1_to_utf8(view(f.name_string()))),
                                  json::string(cli::latin1_to_utf8(view(f.value())))});
  r.response = json::object{
      {"status", std::to_string(message.result_int()) + " " + cli::latin1_to_utf8(view(message.reason()))},
      {"headers", std::move(headers)},
      {"body_size", size},
      {"body_truncated", body.size() < size},
  };
  r.body = std::move(body);
  r.how = outcome::completed;
}

template <class Protocol>
asio::awaitable<void> connect_and_exchange(asio::io_context& io, const proxy::address& to,
                                           const upstream_request& request, std::size_t limit, bool& connected,
                                           replay_result& r) {
  typename Protocol::socket socket(io);
  if constexpr (std::is_same_v<Protocol, asio::local::stream_protocol>) {
    co_await socket.async_connect(typename Protocol::endpoint(to.path), asio::use_awaitable);
  } else {
    asio::ip::tcp::resolver resolver(io);
    auto endpoints = co_await resolver.async_resolve(to.host, std::to_string(to.port), asio::use_awaitable);
    co_await asio::async_connect(socket, endpoints, asio::use_awaitable);
  }
  connected = true;
  co_await exchange(socket, request, limit, r);
}

// What went wrong, for the user: where, and what to do.
std::string failure_text(const proxy::address& to, const boost::system::system_error& e, bool connected) {
  std::string where = "the app at " + to.to_string();
  const auto& ec = e.code();
  if (!connected)
    return "cannot connect to " + where + ": " + ec.message() +
           " — is it running? (`hindsight status` shows where the proxy sends requests)";
  if (ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::eof)
    return where + " closed the connection before its response was complete";
  if (ec.category() == http::make_error_code(http::error::bad_version).category())
    return where + " sent a response hindsight cannot parse: " + ec.message();
  return "the exchange with " + where + " failed: " + ec.message();
}

}  // namespace

upstream_request upstream_request_for(const store::stored_capture& c) {
  upstream_request out;
  out.head = c.method == "HEAD";
  // show --raw's bytes parse as the proxy parsed the original and carry one
  // Content-Length, so the head written from them frames the stored body exactly.
  std::string raw = cli::rebuild_request(c);
  proxy::request_head head;
  proxy::head_limits generous{.max_request_line = raw.size() + 1, .max_head_size = raw.size() + 1, .max_fields = 1 << 20};
  auto parsed = proxy::parse_request_head(raw, head, generous);
  if (parsed.state == proxy::parse_state::complete) {
    const bool unix_client = c.client == "unix" || c.client.empty();
    proxy::write_upstream_request_head(head, unix_client ? std::string_view{} : std::string_view(c.client), out.bytes);
    out.bytes += c.request_body;
  } else {
    out.bytes = std::move(raw);
    out.warnings.push_back("the stored request head does not parse as the proxy parsed it (" + parsed.error.reason +
                           "): it is sent as stored");
  }
  if (c.request_body_truncated || !c.request_complete)
    out.warnings.push_back("the request body is incomplete: " + std::to_string(c.request_body.size()) + " of " +
                           std::to_string(c.request_body_size) + " bytes were stored; the app reads a shorter body");
  if (!c.redacted.empty()) {
    std::string names;
    for (const auto& r : c.redacted) names += (names.empty() ? "" : ", ") + r;
    out.warnings.push_back("secrets were scrubbed from this capture (" + names + "): the app sees [redacted] in their place");
  }
  return out;
}

replay_result replay_upstream(const upstream_settings& s, const upstream_request& request) {
  replay_result r;
  asio::io_context io;
  std::exception_ptr failure;
  bool finished = false, connected = false;
  const auto started = clock::now();
  auto done = [&](std::exception_ptr e) {
    failure = e;
    finished = true;
  };
  if (s.address.is_unix())
    asio::co_spawn(io, connect_and_exchange<asio::local::stream_protocol>(io, s.address, request, s.body_limit, connected, r), done);
  else
    asio::co_spawn(io, connect_and_exchange<asio::ip::tcp>(io, s.address, request, s.body_limit, connected, r), done);
  // One deadline for connect, write and read: what is still pending then is abandoned
  // with the io_context, which closes the socket.
  io.run_for(s.timeout);
  r.duration_ms = std::chrono::duration<double, std::milli>(clock::now() - started).count();
  if (!finished) {
    r.how = outcome::timeout;
    r.error = (connected ? "the app at " + s.address.to_string() + " did not answer within "
                         : "cannot connect to the app at " + s.address.to_string() + " within ") +
              seconds_text(s.timeout) + " (--timeout to allow longer)";
    return r;
  }
  if (failure) {
    r.how = outcome::error;
    r.response = {};
    try {
      std::rethrow_exception(failure);
    } catch (const boost::system::system_error& e) {
      r.error = failure_text(s.address, e, connected);
    } catch (const std::exception& e) {
      r.error = "the exchange with the app at " + s.address.to_string() + " failed: " + e.what();
    }
  }
  return r;
}

}  // namespace hindsight::replay
