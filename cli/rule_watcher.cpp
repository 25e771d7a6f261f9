#include "cli/rule_watcher.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <chrono>
#include <optional>
#include <vector>

#include "store/error.hpp"
#include "store/rules.hpp"
#include "store/schema.hpp"
#include "store/sqlite.hpp"

namespace hindsight::cli {
namespace {

// How often the rules_version row is read: a change is in force within this.
constexpr auto poll_interval = std::chrono::milliseconds(250);
// How often the hits counted in memory are added to the store.
constexpr auto flush_interval = std::chrono::seconds(1);

}  // namespace

struct rule_watcher::impl {
  std::filesystem::path database;
  std::shared_ptr<proxy::rule_table> table;
  bool create = true;
  std::optional<store::sqlite::database> db;
  std::optional<std::int64_t> version;  // of the rules published; none before the first load
  std::map<std::int64_t, std::shared_ptr<proxy::rule_hits>> hits;  // by rule id, across reloads
  std::shared_ptr<const proxy::rule_set> current;

  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::thread thread;

  // false: there is no database, and this watcher may not create one (--capture off
  // promises not to write one); it looks again on the next round.
  bool open() {
    // Created owner-only before SQLite opens it, as the capture writer does — but only
    // when missing: closing a descriptor of a file this process already has open in
    // SQLite (the capture writer's) would drop that connection's POSIX locks.
    struct stat st{};
    if (::stat(database.c_str(), &st) != 0) {
      if (!create) return false;
      int fd = ::open(database.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      if (fd >= 0) ::close(fd);
    }
    db.emplace(database, store::sqlite::open_mode::create, std::chrono::milliseconds(1000));
    store::prepare_for_writing(*db);
    return true;
  }

  // Reloads the rules when the store says they changed.
  void poll() {
    auto v = store::rules_version(*db);
    if (version && *version == v) return;
    const bool first_load = !version;
    std::vector<proxy::compiled_rule> compiled;
    std::map<std::int64_t, std::shared_ptr<proxy::rule_hits>> kept;
    for (auto& r : store::list_rules(*db)) {
      auto& counter = hits[r.id];
      if (!counter) {
        counter = std::make_shared<proxy::rule_hits>();
        counter->count = counter->flushed = r.hits;
      }
      kept[r.id] = counter;
      auto name = r.name;
      try {
        compiled.emplace_back(std::move(r), counter);
      } catch (const std::exception& e) {
        // Refused at `rules add`; only a file written by hand or another build gets here.
        spdlog::warn("rule '{}' is ignored: {}", name, e.what());
      }
    }
    flush();  // the counts of rules that are gone are dropped with them
    hits = std::move(kept);
    auto set = std::make_shared<const proxy::rule_set>(std::move(compiled));
    std::size_t enabled = 0;
    for (const auto& r : set->rules()) enabled += r.record().enabled ? 1 : 0;
    current = set;
    table->publish(set);
    version = v;
    // After the swap: from this line on, requests see these rules (tests wait for it).
    if (!first_load || !set->empty()) spdlog::info("rules: {} loaded ({} enabled)", set->rules().size(), enabled);
  }

  void flush() {
    std::vector<std::pair<std::int64_t, std::uint64_t>> deltas;
    std::vector<std::pair<proxy::rule_hits*, std::uint64_t>> counted;
    for (auto& [id, h] : hits) {
      auto now = h->count.load(std::memory_order_relaxed);
      auto done = h->flushed.load(std::memory_order_relaxed);
      if (now > done) {
        deltas.emplace_back(id, now - done);
        counted.emplace_back(h.get(), now);
      }
    }
    if (deltas.empty()) return;
    store::add_rule_hits(*db, deltas);
    for (auto [h, n] : counted) h->flushed.store(n, std::memory_order_relaxed);
  }

  void run() {
    auto next_flush = std::chrono::steady_clock::now() + flush_interval;
    for (;;) {
      {
        std::unique_lock lock(mutex);
        wake.wait_for(lock, poll_interval, [&] { return stopping; });
        if (stopping) break;
      }
      try {
        if (!db && !open()) continue;
        poll();
        if (std::chrono::steady_clock::now() >= next_flush) {
          next_flush = std::chrono::steady_clock::now() + flush_interval;
          flush();
        }
      } catch (const std::exception& e) {
        // A busy or failing database: the rules in force stay, the next round retries.
        spdlog::debug("rules: cannot read or update the store: {}", e.what());
        // A busy database is still a sound connection; after anything else, open it afresh.
        auto* failure = dynamic_cast<const store::error*>(&e);
        if (!failure || (failure->code & 0xff) != SQLITE_BUSY) db.reset();
      }
    }
    try {
      if (db) flush();
    } catch (const std::exception& e) {
      spdlog::warn("rules: cannot record the last hit counts in '{}': {}", database.string(), e.what());
    }
  }
};

rule_watcher::rule_watcher(std::filesystem::path database, std::shared_ptr<proxy::rule_table> table, bool create)
    : impl_(std::make_unique<impl>()) {
  impl_->database = std::move(database);
  impl_->table = std::move(table);
  impl_->create = create;
}

rule_watcher::~rule_watcher() {
  if (!impl_->thread.joinable()) return;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_one();
  impl_->thread.join();
}

void rule_watcher::start() {
  if (impl_->open()) impl_->poll();
  impl_->thread = std::thread([this] { impl_->run(); });
}

}  // namespace hindsight::cli
