#pragma once
// Keeps the running proxy's trigger rules in step with the store: a thread of its own
// (never a serving thread) reads the store's rules_version a few times a second,
// compiles the rules again when it changed and publishes the new set to the proxy
// threads in one atomic swap; and it adds the hits the proxy counted in memory to the
// store, in batches. A rule added with `hindsight rules add` is in force within a
// second, without a restart.
#include <condition_variable>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "proxy/rules.hpp"

namespace hindsight::cli {

class rule_watcher {
 public:
  // `create`: make the database when it is missing (not with --capture off, which
  // writes no database; rules added later create it and are picked up then).
  rule_watcher(std::filesystem::path database, std::shared_ptr<proxy::rule_table> table, bool create);
  // Stops the thread and flushes the hits counted since the last flush.
  ~rule_watcher();
  rule_watcher(const rule_watcher&) = delete;
  rule_watcher& operator=(const rule_watcher&) = delete;

  // Opens (creating, 0600, if allowed) the database, loads the rules once, then starts
  // the thread.
  // Throws store::error with a message for the user.
  void start();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace hindsight::cli
