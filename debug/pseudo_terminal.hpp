#pragma once
// A pseudo-terminal pair for a debug worker: the proxy keeps the master (it reads what
// pdb and the app write, and writes what the developer types), the worker opens the
// slave by its path as its controlling terminal (replay::worker_options::terminal).
#include <string>

namespace hindsight::debug {

class pseudo_terminal {
 public:
  // Throws std::runtime_error saying which call failed and why.
  pseudo_terminal();
  ~pseudo_terminal();
  pseudo_terminal(const pseudo_terminal&) = delete;
  pseudo_terminal& operator=(const pseudo_terminal&) = delete;

  // Hands the master over (to an Asio descriptor, which closes it); -1 afterwards.
  int release_master();
  int master() const { return master_; }
  const std::string& slave_path() const { return slave_path_; }

 private:
  int master_ = -1;
  std::string slave_path_;
};

// Sets the terminal's size (TIOCSWINSZ); the worker gets SIGWINCH. Errors are ignored: a
// wrong size only wraps lines.
void set_window_size(int master, unsigned rows, unsigned columns);

}  // namespace hindsight::debug
