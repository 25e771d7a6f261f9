#include "proxy/splice_pipe.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace hindsight::proxy {

bool splice_pipe::open() {
  if (fds_[0] >= 0) return true;
  held = 0;
  if (::pipe2(fds_, O_NONBLOCK | O_CLOEXEC) != 0) {
    fds_[0] = fds_[1] = -1;
    return false;
  }
  int size = ::fcntl(fds_[0], F_GETPIPE_SZ);
  capacity_ = size > 0 ? static_cast<std::size_t>(size) : 4096;
  return true;
}

void splice_pipe::close() {
  for (int& fd : fds_) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  held = 0;
}

}  // namespace hindsight::proxy
