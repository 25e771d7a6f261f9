#pragma once
// The client side of the control socket (<data>/control.sock) that `hindsight run`
// serves: one JSON line asked, one JSON line answered, then the server closes.
#include <boost/json/object.hpp>

#include <chrono>
#include <filesystem>
#include <string>

namespace hindsight::cli {

struct control_answer {
  enum class state {
    not_running,  // no socket, or a stale one nobody listens on
    running,      // `reply` holds the proxy's answer
    unreachable,  // something is there but did not answer properly: see `problem`
  };
  state status = state::not_running;
  boost::json::object reply;
  std::string problem;  // for not_running: why we think so; for unreachable: what went wrong
};

// Sends {"command": <command>} and reads the reply within `timeout` in all. Never
// throws: every failure is an answer.
control_answer ask_proxy(const std::filesystem::path& socket, const std::string& command,
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(1500));

}  // namespace hindsight::cli
