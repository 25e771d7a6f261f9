#pragma once
// The control socket of a running proxy (<data>/control.sock): other hindsight commands
// on the same machine ask it for live state. One JSON line in, one JSON line out, then
// the connection closes. Owner-only (0600), like the data directory. Runs on the run
// command's libuv loop, never on a proxy thread.
#include <functional>
#include <memory>
#include <string>
#include <string_view>

struct uv_loop_s;

namespace hindsight::cli {

class control_server {
 public:
  // `answer` gets the request line and returns the reply (without its newline).
  control_server(uv_loop_s* loop, std::string path, std::function<std::string(std::string_view)> answer);
  ~control_server();
  control_server(const control_server&) = delete;
  control_server& operator=(const control_server&) = delete;

  // Listens; a socket file left by a proxy that is gone is replaced, but a live one means
  // another hindsight runs on this data directory: std::runtime_error says so.
  void start();
  // Stops listening and removes the socket file; `done` runs once the handles closed.
  void close(std::function<void()> done);

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace hindsight::cli
