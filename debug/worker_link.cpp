#include "debug/worker_link.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include <array>

#include "embed/protocol.hpp"

namespace hindsight::debug {
namespace {

namespace json = boost::json;
using net::redirect_error;
using net::use_awaitable;

std::array<char, 4> be32(std::size_t n) {
  return {static_cast<char>((n >> 24) & 0xff), static_cast<char>((n >> 16) & 0xff), static_cast<char>((n >> 8) & 0xff),
          static_cast<char>(n & 0xff)};
}

std::uint32_t from_be32(const std::array<unsigned char, 4>& b) {
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
}

}  // namespace

std::string worker_message::type() const {
  if (auto* t = header.if_contains("type"); t && t->is_string()) return std::string(t->as_string());
  return {};
}

worker_link::worker_link(const net::any_io_executor& executor, int fd)
    : socket_(executor, net::local::stream_protocol(), fd) {}

net::awaitable<std::optional<worker_message>> worker_link::receive() {
  boost::system::error_code ec;
  std::array<unsigned char, 4> length{};
  co_await net::async_read(socket_, net::buffer(length), redirect_error(use_awaitable, ec));
  if (ec) {
    if (ec != net::error::eof) error_ = ec.message();
    co_return std::nullopt;
  }
  auto header_size = from_be32(length);
  if (header_size > protocol::max_header_size) {
    error_ = "a header of " + std::to_string(header_size) + " bytes";
    co_return std::nullopt;
  }
  std::string header(header_size, '\0');
  co_await net::async_read(socket_, net::buffer(header), redirect_error(use_awaitable, ec));
  if (!ec) co_await net::async_read(socket_, net::buffer(length), redirect_error(use_awaitable, ec));
  if (ec) {
    error_ = "it closed the socket in the middle of a message";
    co_return std::nullopt;
  }
  auto body_size = from_be32(length);
  if (body_size > protocol::max_body_size) {
    error_ = "a body of " + std::to_string(body_size) + " bytes";
    co_return std::nullopt;
  }
  worker_message m;
  m.body.resize(body_size);
  co_await net::async_read(socket_, net::buffer(m.body), redirect_error(use_awaitable, ec));
  if (ec) {
    error_ = "it closed the socket in the middle of a message";
    co_return std::nullopt;
  }
  json::parse_options options;
  options.allow_invalid_utf8 = true;
  auto v = json::parse(header, ec, {}, options);
  if (ec || !v.is_object()) {
    error_ = "a header that is not a JSON object";
    co_return std::nullopt;
  }
  m.header = std::move(v.as_object());
  co_return m;
}

net::awaitable<bool> worker_link::send(const json::object& header, std::string_view body) {
  auto text = json::serialize(header);
  auto header_length = be32(text.size());
  auto body_length = be32(body.size());
  std::array<net::const_buffer, 4> parts{net::buffer(header_length), net::buffer(text), net::buffer(body_length),
                                         net::buffer(body.data(), body.size())};
  boost::system::error_code ec;
  co_await net::async_write(socket_, parts, redirect_error(use_awaitable, ec));
  if (ec) error_ = ec.message();
  co_return !ec;
}

void worker_link::close() {
  boost::system::error_code ec;
  socket_.close(ec);
}

}  // namespace hindsight::debug
