#pragma once
// `hindsight attach`: this terminal becomes the pdb prompt of a live debug session. It
// connects to the running proxy's attach socket (<data>/attach.sock,
// docs/attach-protocol.md), waits for a request a debug rule sends to the debugger, then
// relays the terminal raw both ways until the request's response went to its client.
#include <CLI/CLI.hpp>

#include <string>
#include <string_view>

namespace hindsight::cli {

struct attach_options {
  std::string data;
  std::string wait;  // give up when no session starts within this; "": wait until Ctrl-C
};

void add_attach_command(CLI::App& app, attach_options& options);
int attach(const attach_options& options);

// The line said when a session starts, from the `S` frame's JSON: "debugging GET /x from
// 127.0.0.1 (rule 'r', pdb); Ctrl-D at the (Pdb) prompt detaches, …". Untrusted text is
// escaped; a payload that does not parse still gives a line.
std::string session_start_line(std::string_view json_payload);

// What the `E` frame's JSON says: the line for the developer (the message and the
// response's status) and the exit status: 0 when the outcome is "completed", else 1.
struct session_end {
  std::string line;
  int exit_status = 1;
};
session_end session_end_from(std::string_view json_payload);

}  // namespace hindsight::cli
