#pragma once
// One replay from start to end, the parent's side of docs/worker-protocol.md: start the
// worker, hello → load → request → response, close, wait. Every way it can end is a
// replay_result, never an exception: a worker that cannot start, an app that does not
// import, a request that outlives its timeout, a worker that crashes.
#include <boost/json/object.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "replay/app_spec.hpp"
#include "replay/result_view.hpp"
#include "replay/worker_process.hpp"
#include "replay/worker_request.hpp"

namespace hindsight::replay {

struct session_settings {
  worker_options worker;
  app_spec app;
  // From sending the request to its response; then SIGTERM, SIGKILL after `grace`.
  std::chrono::milliseconds timeout{60'000};
  // When a pdb prompt opens in the request (the app's own breakpoint() in a replay that
  // did not ask for a debugger), the time allowed from then on; 0 keeps `timeout`.
  std::chrono::milliseconds prompt_timeout{0};
  // For the interpreter to start and the app to import.
  std::chrono::milliseconds load_timeout{60'000};
  std::chrono::milliseconds grace{2'000};
};

// A worker started ahead of its session: its interpreter boots (the longest part of a
// replay before the app's own import) while the caller reads the store.
struct started_worker {
  std::unique_ptr<worker_process> process;
  std::string error;  // why it could not be started ("" when it was)
};
started_worker start_worker(const worker_options& options);

// `early`: one from start_worker with the same options, or none to start it here.
replay_result run_session(const session_settings& s, const worker_request& request, started_worker early = {});

// The `load` message for `app` (docs/worker-protocol.md).
boost::json::object load_message(const app_spec& app);

// "60 s", "1.5 s", "0.2 s".
std::string seconds_text(std::chrono::milliseconds d);

// The last `max_lines` lines of a stderr tail, each indented for a message.
std::string indented_tail(std::string_view tail, std::size_t max_lines = 20);

}  // namespace hindsight::replay
