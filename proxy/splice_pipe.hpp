#pragma once
// A pipe through which a large response body goes from the app's socket to the
// client's inside the kernel (splice(2)): its bytes are never copied into this process,
// which is where a proxy of large responses spends its time (two copies of every byte).
// Opened on first use and kept for the connection's next responses.
#include <cstddef>

namespace hindsight::proxy {

class splice_pipe {
 public:
  splice_pipe() = default;
  ~splice_pipe() { close(); }
  splice_pipe(const splice_pipe&) = delete;
  splice_pipe& operator=(const splice_pipe&) = delete;

  // False when no pipe can be had (descriptors exhausted): the caller copies instead.
  bool open();
  // After an interrupted transfer the pipe may hold bytes of a response nobody will
  // get: it is closed, and a later open() makes a fresh one.
  void close();

  int read_end() const { return fds_[0]; }
  int write_end() const { return fds_[1]; }
  std::size_t capacity() const { return capacity_; }
  std::size_t held = 0;  // bytes moved into the pipe and not yet out of it

 private:
  int fds_[2] = {-1, -1};
  std::size_t capacity_ = 0;
};

}  // namespace hindsight::proxy
