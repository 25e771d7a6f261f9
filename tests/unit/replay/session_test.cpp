// The parent's side of the worker protocol against a stand-in worker: a small Python
// script that speaks the frames and misbehaves on demand (its behaviour is the app
// spec), so timeouts, crashes and early exits are tested without an embedded interpreter.
#include "replay/session.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <filesystem>
#include <fstream>

using namespace hindsight::replay;
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

const char* fake_worker = R"PY(#!/usr/bin/python3
import json, os, signal, struct, sys, time
fd = int(sys.argv[sys.argv.index("--fd") + 1])
sock = os.fdopen(fd, "r+b", buffering=0)
def read_exact(n):
    data = b""
    while len(data) < n:
        chunk = sock.read(n - len(data))
        if not chunk:
            sys.exit(0)
        data += chunk
    return data
def receive():
    header = json.loads(read_exact(struct.unpack(">I", read_exact(4))[0]))
    body = read_exact(struct.unpack(">I", read_exact(4))[0])
    return header, body
def send(header, body=b""):
    h = json.dumps(header).encode()
    sock.write(struct.pack(">I", len(h)) + h + struct.pack(">I", len(body)) + body)
behaviour = os.environ.get("FAKE_WORKER", "ok")
if behaviour == "exit_early":
    print("fake: Python 3.9 does not match this build (3.11)", file=sys.stderr)
    sys.exit(3)
send({"type": "hello", "protocol": 2 if behaviour == "protocol_2" else 1, "pid": os.getpid()})
load, _ = receive()
if load["app"] == "broken:app":
    send({"type": "error", "kind": "import", "message": "No module named 'broken'",
          "exception": {"type": "ModuleNotFoundError", "module": "builtins", "message": "No module named 'broken'", "frames": []}})
    receive()
send({"type": "loaded", "app": load["app"]})
request, body = receive()
if behaviour == "sleep":
    time.sleep(30)
if behaviour == "prompt":  # a pdb prompt opens and the developer takes a while
    send({"type": "debugger", "event": "prompt"})
    time.sleep(1)
if behaviour == "segv":
    print("fake: about to crash", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGSEGV)
echo = {"method": request["method"], "load": load, "body": body.decode("latin-1")}
send({"type": "response", "status": "500 Internal Server Error", "headers": [["Content-Type", "application/json"]],
      "body_size": 10, "body_truncated": False, "rolled_back": [], "duration_ms": 1.0, "debugger_used": False,
      "exception": {"type": "KeyError", "module": "builtins", "message": "'x'", "frames": []}},
     json.dumps(echo).encode())
receive()
)PY";

struct fake {
  std::filesystem::path path;
  fake() {
    path = std::filesystem::temp_directory_path() / ("hindsight-fake-worker-" + std::to_string(getpid()));
    std::ofstream(path) << fake_worker;
    ::chmod(path.c_str(), 0755);
  }
  ~fake() { std::filesystem::remove(path); }
};

worker_request request() {
  worker_request r;
  r.header = json::object{{"type", "request"}, {"capture_id", 4}, {"method", "POST"}};
  r.body = std::string("a\0b", 3);
  return r;
}

replay_result run(const char* behaviour, std::string app = "good:app", std::chrono::milliseconds timeout = 5s,
                  std::chrono::milliseconds prompt_timeout = 0ms) {
  static fake worker;
  ::setenv("FAKE_WORKER", behaviour, 1);
  session_settings s;
  s.worker.executable = worker.path;
  s.app.app = std::move(app);
  s.app.chdir = "/tmp";
  s.app.env = {{"K", "v"}};
  s.timeout = timeout;
  s.prompt_timeout = prompt_timeout;
  s.load_timeout = 5s;
  s.grace = 500ms;
  return run_session(s, request());
}

}  // namespace

TEST(Session, runs_hello_load_request_response) {
  auto r = run("ok");
  ASSERT_EQ(r.how, outcome::completed) << r.error;
  EXPECT_EQ(r.capture_id, 4);
  EXPECT_EQ(r.response.at("status"), "500 Internal Server Error");
  EXPECT_EQ(r.exception.at("type"), "KeyError");
  auto echo = json::parse(r.body).as_object();
  EXPECT_EQ(echo.at("method"), "POST");
  EXPECT_EQ(echo.at("body").as_string(), json::string_view("a\0b", 3));
  EXPECT_EQ(echo.at("load").at("app"), "good:app");
  EXPECT_EQ(echo.at("load").at("chdir"), "/tmp");
  EXPECT_EQ(echo.at("load").at("env").at("K"), "v");
}

TEST(Session, stops_a_request_that_outlives_its_timeout) {
  auto started = std::chrono::steady_clock::now();
  auto r = run("sleep", "good:app", 300ms);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  EXPECT_EQ(r.how, outcome::timeout);
  EXPECT_EQ(r.error, "the request did not finish within 0.3 s; the worker was stopped (--timeout to allow longer)");
}

TEST(Session, a_prompt_in_the_request_allows_the_prompt_timeout) {
  auto r = run("prompt", "good:app", 300ms, 10s);
  ASSERT_EQ(r.how, outcome::completed) << r.error;
  EXPECT_EQ(r.response.at("status"), "500 Internal Server Error");
}

TEST(Session, without_a_prompt_timeout_a_prompt_keeps_the_request_timeout) {
  auto r = run("prompt", "good:app", 300ms);
  EXPECT_EQ(r.how, outcome::timeout) << r.error;
}

TEST(Session, reports_a_crash_with_its_signal_and_stderr_tail) {
  auto r = run("segv");
  EXPECT_EQ(r.how, outcome::crashed);
  EXPECT_EQ(r.error.rfind("worker crashed (SIGSEGV)", 0), 0u) << r.error;
  EXPECT_NE(r.error.find("fake: about to crash"), std::string::npos) << r.error;
}

TEST(Session, a_worker_that_exits_before_hello_is_explained_by_its_stderr) {
  auto r = run("exit_early");
  EXPECT_EQ(r.how, outcome::error);
  EXPECT_NE(r.error.find("exited with status 3"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("Python 3.9 does not match"), std::string::npos) << r.error;
}

TEST(Session, refuses_another_protocol_version) {
  auto r = run("protocol_2");
  EXPECT_EQ(r.how, outcome::error);
  EXPECT_NE(r.error.find("protocol 2"), std::string::npos) << r.error;
}

TEST(Session, an_app_that_does_not_import_is_an_error_with_its_exception) {
  auto r = run("ok", "broken:app");
  EXPECT_EQ(r.how, outcome::error);
  EXPECT_NE(r.error.find("'broken:app' could not be loaded: No module named 'broken'"), std::string::npos) << r.error;
  EXPECT_EQ(r.exception.at("type"), "ModuleNotFoundError");
}

TEST(Session, a_missing_executable_is_an_error) {
  session_settings s;
  s.worker.executable = "/nonexistent/hindsight-worker";
  s.app.app = "a:b";
  auto r = run_session(s, request());
  EXPECT_EQ(r.how, outcome::error);
  EXPECT_NE(r.error.find("/nonexistent/hindsight-worker"), std::string::npos) << r.error;
}

TEST(Session, formats_seconds_and_tails) {
  EXPECT_EQ(seconds_text(60s), "60 s");
  EXPECT_EQ(seconds_text(1500ms), "1.5 s");
  EXPECT_EQ(indented_tail("a\nb\nc\n", 2), "    b\n    c\n");
  EXPECT_EQ(indented_tail("only", 5), "    only\n");
  EXPECT_EQ(indented_tail("\n"), "");
}
