#include "debug/pseudo_terminal.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace hindsight::debug {

pseudo_terminal::pseudo_terminal() {
  master_ = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master_ < 0) {
    throw std::runtime_error(std::string("cannot open a pseudo-terminal for the debug worker (posix_openpt: ") +
                             std::strerror(errno) + "); is /dev/pts mounted?");
  }
  char name[128];
  if (::grantpt(master_) != 0 || ::unlockpt(master_) != 0 || ::ptsname_r(master_, name, sizeof name) != 0) {
    int saved = errno;
    ::close(master_);
    master_ = -1;
    throw std::runtime_error(std::string("cannot set up a pseudo-terminal for the debug worker: ") + std::strerror(saved));
  }
  slave_path_ = name;
  set_window_size(master_, 24, 80);
}

pseudo_terminal::~pseudo_terminal() {
  if (master_ >= 0) ::close(master_);
}

int pseudo_terminal::release_master() {
  int fd = master_;
  master_ = -1;
  return fd;
}

void set_window_size(int master, unsigned rows, unsigned columns) {
  if (rows == 0 || columns == 0) return;
  winsize size{};
  size.ws_row = static_cast<unsigned short>(rows);
  size.ws_col = static_cast<unsigned short>(columns);
  ::ioctl(master, TIOCSWINSZ, &size);
}

}  // namespace hindsight::debug
