#include "cli/attach_command.hpp"

#include <gtest/gtest.h>

using namespace hindsight::cli;

TEST(AttachCommand, says_which_request_is_debugged_and_how_to_leave) {
  EXPECT_EQ(session_start_line(
                R"({"method":"GET","target":"/x?pdb=1","client":"127.0.0.1","rule":"r","action":"pdb"})"),
            "debugging GET /x?pdb=1 from 127.0.0.1 (rule 'r', pdb); Ctrl-D at the (Pdb) prompt detaches, c continues, "
            "Ctrl-C interrupts");
}

TEST(AttachCommand, escapes_what_came_from_the_request) {
  auto line = session_start_line(
      R"({"method":"GET","target":"/\u001b[2J?pdb=1","client":"unix","rule":"r\u0007","action":"break"})");
  EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
  EXPECT_NE(line.find("/\\x1b[2J?pdb=1"), std::string::npos) << line;
  EXPECT_NE(line.find("(rule 'r\\x07', break)"), std::string::npos) << line;
}

TEST(AttachCommand, a_start_it_cannot_read_still_gives_a_line) {
  EXPECT_EQ(session_start_line("not json").rfind("debugging a request; Ctrl-D", 0), 0u);
  EXPECT_EQ(session_start_line(R"({"method":"POST"})").rfind("debugging POST ? from ? (rule '?', ?)", 0), 0u);
}

TEST(AttachCommand, the_end_exits_0_only_when_the_request_completed) {
  auto ok = session_end_from(
      R"({"status":200,"reason":"OK","outcome":"completed","message":"the response went to the client"})");
  EXPECT_EQ(ok.exit_status, 0);
  EXPECT_EQ(ok.line, "the response went to the client (status 200 OK)");

  auto timeout = session_end_from(
      R"({"status":null,"reason":"","outcome":"timeout","message":"the request did not finish within 1 h"})");
  EXPECT_EQ(timeout.exit_status, 1);
  EXPECT_EQ(timeout.line, "the request did not finish within 1 h (timeout; no response status)");

  auto crashed = session_end_from(R"({"status":502,"reason":"Bad Gateway","outcome":"crashed","message":""})");
  EXPECT_EQ(crashed.exit_status, 1);
  EXPECT_EQ(crashed.line, "the debug session ended (crashed; status 502 Bad Gateway)");

  EXPECT_EQ(session_end_from("{").exit_status, 1);
}
