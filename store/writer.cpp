#include "store/writer.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <unordered_map>
#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "store/fingerprint.hpp"
#include "store/replays.hpp"
#include "store/schema.hpp"
#include "store/sqlite.hpp"

namespace hindsight::store {

std::string_view to_string(drop_reason r) {
  switch (r) {
    case drop_reason::queue_full: return "queue_full";
    case drop_reason::database_full: return "database_full";
    case drop_reason::database_error: return "database_error";
    case drop_reason::database_busy: return "database_busy";
    case drop_reason::count_: break;
  }
  return "unknown";
}

namespace {

// The writer thread's nice value (0 is normal, 19 the lowest priority).
constexpr int writer_nice = 10;

using steady = std::chrono::steady_clock;
constexpr std::size_t reasons = static_cast<std::size_t>(drop_reason::count_);
using drop_counts = std::array<std::uint64_t, reasons>;

constexpr std::size_t batch_size = 256;
// A batch stops growing once its captures hold this much, so that one transaction (and
// the WAL it fills before a checkpoint can run) stays small under a storm of large bodies.
constexpr std::uint64_t batch_bytes_limit = 8 << 20;  // below a deletion step's 16 MiB: retention gains on a storm
constexpr auto retention_interval = std::chrono::seconds(1);
constexpr std::size_t retention_rows_per_transaction = 500;
constexpr std::int64_t vacuum_pages_per_pass = 2048;  // 8 MiB of 4 KiB pages
constexpr auto warning_interval = std::chrono::seconds(10);
constexpr auto drain_time = std::chrono::seconds(1);
// Checkpoints truncate the WAL back to this, so a burst does not leave a huge file behind.
constexpr std::string_view wal_size_limit = "16777216";
// With --store-max-size, --retain-bytes is at most this share of it (in percent): the
// file holds pages, indexes and free pages beyond the captures' accounted bytes.
constexpr std::uint64_t retained_share_of_cap = 80;

std::string mib_text(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

// The text and blob bytes of a live debug session stored with its capture.
std::uint64_t session_bytes(const std::optional<replay_record>& r) {
  if (!r) return 0;
  return r->mode.size() + r->app_spec.size() + r->exception_json.size() + r->result_json.size() + r->body.size() +
         r->outcome.size() + r->error.size() + r->transcript.size() + r->trigger.size();
}

// The bytes a capture holds in memory while it waits: its headers and bodies, its live
// session's transcript, body and results, and the rest of its fields.
std::uint64_t queued_size(const capture& c) {
  return 200 + c.client.size() + c.scheme.size() + c.host.size() + c.method.size() + c.target.size() +
         c.reason.size() + c.upstream_error_kind.size() + c.upstream_error.size() + c.captured_because.size() +
         c.request_headers.size() + c.request_body.size() + c.response_headers.size() + c.response_body.size() +
         session_bytes(c.live_session);
}

// The free space an unprivileged writer may use on the file system holding `dir`;
// nullopt when it cannot be told (the check is then skipped).
std::optional<std::uint64_t> free_space(const std::filesystem::path& dir) {
  struct statvfs fs{};
  if (::statvfs(dir.empty() ? "." : dir.c_str(), &fs) != 0) return std::nullopt;
  return static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
}

// Creates the database file owner-only before SQLite opens it (SQLite would create it
// with the umask's 0644, and its -wal and -shm take the database's mode), and takes
// group and world access away from an existing one and its -wal and -shm: captures hold
// Authorization and Cookie headers. A failure to open is left to SQLite to report.
void make_owner_only(const std::filesystem::path& database) {
  if (database.empty() || database == ":memory:") return;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::string path = database.string() + suffix;
    int flags = O_RDWR | O_CLOEXEC | O_NOCTTY | (*suffix ? 0 : O_CREAT);
    int fd = ::open(path.c_str(), flags, 0600);
    if (fd < 0) continue;
    struct stat st{};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0 && ::fchmod(fd, st.st_mode & 0700) != 0) {
      spdlog::warn("cannot make '{}' readable by its owner only: {}; captures in it hold credentials: run `chmod 600 "
                   "{}*` as its owner",
                   path, std::strerror(errno), database.string());
    }
    ::close(fd);
  }
}

std::int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

// The path of a request-target (RFC 9112 §3.2): up to the query (or a fragment a client
// sent anyway); for the absolute-form the path after the authority. "*" and the
// authority-form stay as they are.
std::string path_of(std::string_view target) {
  auto path = target.substr(0, target.find_first_of("?#"));
  if (!path.starts_with('/')) {
    if (auto authority = path.find("://"); authority != std::string_view::npos) {
      auto slash = path.find('/', authority + 3);
      path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
    }
  }
  return std::string(path);
}

drop_reason reason_for(int sqlite_code) {
  switch (sqlite_code & 0xff) {  // the primary code of an extended one
    case SQLITE_FULL: return drop_reason::database_full;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return drop_reason::database_busy;
    default: return drop_reason::database_error;
  }
}

// What a user can do about drops for this reason.
std::string advice(drop_reason r, const writer_options& options) {
  switch (r) {
    case drop_reason::queue_full:
      return "failures arrive faster than the disk takes them (the queue holds " +
             std::to_string(options.queue_capacity) + " captures (--capture-queue) or " +
             mib_text(options.queue_bytes) + "): raise --capture-queue or capture fewer exchanges";
    case drop_reason::database_full:
      return options.max_database_bytes > 0
                 ? "the database reached --store-max-size or the disk is full: the writer deletes the oldest "
                   "captures to make room; free disk space, lower --retain-bytes or run `hindsight prune`"
                 : "the disk is (nearly) full: free space on it, lower --retain-bytes or run `hindsight prune`; "
                   "capturing resumes by itself";
    case drop_reason::database_busy:
      return "another process holds the database's write lock (a `hindsight prune`, an sqlite3 shell): let it finish";
    default:
      return "check the data directory (permissions, free space, file system errors); the writer reopens the "
             "database and retries";
  }
}

// A capture on its way into a row: what the writer thread works out before it takes the
// write lock, so the transaction holds the lock only for the inserts.
struct pending_row {
  capture c;
  std::string path, route, fingerprint, redacted_json;
  std::int64_t size = 0;
};

// The bytes a row accounts for (--retain-bytes): every text and blob it holds, its live
// session's (deleted with it), and a fixed allowance for its numbers and record headers.
std::int64_t accounted_size(const pending_row& row) {
  const capture& c = row.c;
  return static_cast<std::int64_t>(
      100 + c.client.size() + c.scheme.size() + c.host.size() + c.method.size() + c.target.size() +
      row.path.size() + c.reason.size() + c.upstream_error_kind.size() + c.upstream_error.size() +
      c.captured_because.size() + row.redacted_json.size() + c.request_headers.size() + c.request_body.size() +
      c.response_headers.size() + c.response_body.size() + session_bytes(c.live_session));
}

pending_row prepare_row(capture&& c, const redaction_rules& rules) {
  pending_row row;
  row.c = std::move(c);
  auto scrubbed = redact(row.c, rules);
  row.redacted_json = boost::json::serialize(boost::json::value_from(scrubbed));
  row.path = path_of(row.c.target);
  row.route = route_of(row.c.target);
  row.fingerprint = fingerprint(row.c.method, row.route, row.c.status, row.c.upstream_error_kind);
  row.size = accounted_size(row);
  return row;
}

// The write connection and its prepared statements, rebuilt together when the
// connection looks broken. Statements point at `db`: never moved, held by unique_ptr.
struct connection {
  explicit connection(const writer_options& options);
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  // Counts `count` captures like `first` into their group; returns the group's id.
  std::int64_t add_to_group(const pending_row& first, std::int64_t count, std::int64_t first_us, std::int64_t last_us);
  void insert(pending_row& row, std::int64_t group_id);
  void insert_live_session(replay_record& session, std::int64_t capture_id);
  void add_to_counter(std::string_view name, std::uint64_t n);
  void set_counter(std::string_view name, std::uint64_t value);
  // The retention in force, for a `hindsight prune` run while no proxy is.
  void record_retention(const retention& keep);
  std::uint64_t stored_bytes();
  // Whether the store holds more rows or bytes than `keep` allows.
  bool over_limits(const retention& keep);

  sqlite::database db;
  sqlite::statement upsert_group, insert_capture, insert_bodies, bump_counter, replace_counter;
};

sqlite::database open_for_writing(const writer_options& options) {
  sqlite::database db(options.database, sqlite::open_mode::create, options.busy_timeout);
  prepare_for_writing(db);
  if (options.max_database_bytes > 0) {
    auto pages = std::max<std::uint64_t>(1, options.max_database_bytes / db.pragma_int("page_size"));
    db.pragma("max_page_count", std::to_string(pages));
  }
  db.pragma("journal_size_limit", wal_size_limit);
  return db;
}

connection::connection(const writer_options& options)
    : db(open_for_writing(options)),
      upsert_group(db,
                   "INSERT INTO groups (fingerprint, method, route, status, upstream_error_kind, count, "
                   "first_seen_us, last_seen_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                   "ON CONFLICT (fingerprint) DO UPDATE SET count = count + excluded.count, "
                   "first_seen_us = min(first_seen_us, excluded.first_seen_us), "
                   "last_seen_us = max(last_seen_us, excluded.last_seen_us) RETURNING id"),
      insert_capture(db,
                     "INSERT INTO captures (time_us, client, scheme, host, method, target, path, version, status, "
                     "reason, duration_ms, upstream_ms, upstream_error_kind, upstream_error, app_restarted, "
                     "captured_because, group_id, replayable, request_body_size, request_body_truncated, "
                     "request_complete, response_body_size, response_body_truncated, redacted, size) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
      insert_bodies(db,
                    "INSERT INTO capture_bodies (id, request_headers, request_body, response_headers, "
                    "response_body) VALUES (?, ?, ?, ?, ?)"),
      bump_counter(db,
                   "INSERT INTO counters (name, value) VALUES (?, ?) "
                   "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value"),
      replace_counter(db,
                      "INSERT INTO counters (name, value) VALUES (?, ?) "
                      "ON CONFLICT (name) DO UPDATE SET value = excluded.value") {}

std::int64_t connection::add_to_group(const pending_row& first, std::int64_t count, std::int64_t first_us,
                                      std::int64_t last_us) {
  const capture& c = first.c;
  upsert_group.bind_text(1, first.fingerprint);
  upsert_group.bind_text(2, c.method);
  upsert_group.bind_text(3, first.route);
  upsert_group.bind_int64(4, c.status);
  upsert_group.bind_text(5, c.upstream_error_kind);
  upsert_group.bind_int64(6, count);
  upsert_group.bind_int64(7, first_us);
  upsert_group.bind_int64(8, last_us);
  upsert_group.step();  // RETURNING: the first step makes the change and yields the row
  std::int64_t group_id = upsert_group.column_int64(0);
  upsert_group.reset();
  return group_id;
}

void connection::insert(pending_row& row, std::int64_t group_id) {
  const capture& c = row.c;
  int i = 0;
  auto& s = insert_capture;
  s.bind_int64(++i, c.time_us);
  s.bind_text(++i, c.client);
  s.bind_text(++i, c.scheme);
  s.bind_text(++i, c.host);
  s.bind_text(++i, c.method);
  s.bind_text(++i, c.target);
  s.bind_text(++i, row.path);
  s.bind_int64(++i, c.version);
  s.bind_int64(++i, c.status);
  s.bind_text(++i, c.reason);
  s.bind_double(++i, c.duration_ms);
  s.bind_double(++i, c.upstream_ms);
  s.bind_text(++i, c.upstream_error_kind);
  s.bind_text(++i, c.upstream_error);
  s.bind_int64(++i, c.app_restarted);
  s.bind_text(++i, c.captured_because);
  s.bind_int64(++i, group_id);
  s.bind_int64(++i, !c.request_body_truncated && c.request_complete);
  s.bind_int64(++i, static_cast<std::int64_t>(c.request_body_size));
  s.bind_int64(++i, c.request_body_truncated);
  s.bind_int64(++i, c.request_complete);
  s.bind_int64(++i, static_cast<std::int64_t>(c.response_body_size));
  s.bind_int64(++i, c.response_body_truncated);
  s.bind_text(++i, row.redacted_json);
  s.bind_int64(++i, row.size);
  s.run();

  const std::int64_t capture_id = db.last_insert_rowid();
  insert_bodies.bind_int64(1, capture_id);
  // Not copied by SQLite: the row outlives the step, and the bindings are cleared after it.
  insert_bodies.bind_blob_view(2, c.request_headers);
  insert_bodies.bind_blob_view(3, c.request_body);
  insert_bodies.bind_blob_view(4, c.response_headers);
  insert_bodies.bind_blob_view(5, c.response_body);
  insert_bodies.run();
  insert_bodies.clear_bindings();

  if (row.c.live_session) insert_live_session(*row.c.live_session, capture_id);
}

void connection::insert_live_session(replay_record& session, std::int64_t capture_id) {
  session.capture_id = capture_id;
  // A session row SQLite refuses (an outcome it does not know) is left out on its own: it
  // must not take the batch's other captures down with it. The failed statement alone
  // is backed out (ON CONFLICT ABORT); the transaction goes on.
  try {
    insert_replay(db, session);
  } catch (const error& e) {
    if ((e.code & 0xff) != SQLITE_CONSTRAINT) throw;
    spdlog::warn("the live debug session of capture {} is not stored: {}", capture_id, e.what());
  }
}

void connection::add_to_counter(std::string_view name, std::uint64_t n) {
  if (n == 0) return;
  bump_counter.bind_text(1, name);
  bump_counter.bind_int64(2, static_cast<std::int64_t>(n));
  bump_counter.run();
}

void connection::set_counter(std::string_view name, std::uint64_t value) {
  replace_counter.bind_text(1, name);
  replace_counter.bind_int64(2, static_cast<std::int64_t>(value));
  replace_counter.run();
}

void connection::record_retention(const retention& keep) {
  set_counter("retain_rows", keep.rows);
  set_counter("retain_bytes", keep.bytes);
  set_counter("retain_seconds", static_cast<std::uint64_t>(keep.age.count()));
}

std::uint64_t connection::stored_bytes() {
  sqlite::statement s(db, "SELECT bytes FROM totals");
  return s.step() ? static_cast<std::uint64_t>(s.column_int64(0)) : 0;
}

bool connection::over_limits(const retention& keep) {
  if (keep.rows == 0 && keep.bytes == 0) return false;
  sqlite::statement s(db, "SELECT rows, bytes FROM totals");
  if (!s.step()) return false;
  auto rows = static_cast<std::uint64_t>(s.column_int64(0)), bytes = static_cast<std::uint64_t>(s.column_int64(1));
  return (keep.rows > 0 && rows > keep.rows) || (keep.bytes > 0 && bytes > keep.bytes);
}

std::string counter_name(drop_reason r) { return "dropped_" + std::string(to_string(r)); }

}  // namespace

struct capture_writer::impl {
  explicit impl(const writer_options& options) : options(options), conn(std::make_unique<connection>(options)) {
    try {
      sqlite::transaction t(conn->db);
      conn->record_retention(options.keep);
      t.commit();
      retention_recorded = true;
    } catch (const error& e) {
      // Recorded with the first batch instead.
      spdlog::debug("cannot record the retention in '{}' yet: {}", options.database.string(), e.what());
    }
  }

  void run();
  void store(std::vector<capture>& batch);
  void apply_retention();
  // Deletes the oldest captures worth `bytes`, whatever the retention; false if none went.
  bool make_room(std::uint64_t bytes);
  void drain_at_exit();
  void record_drops_at_exit();
  void warn_about_drops();
  void count_drops(drop_reason r, std::uint64_t n);  // mutex held
  void take_batch(std::vector<capture>& batch);     // mutex held
  void fail(drop_reason r, std::uint64_t n, std::string why);

  const writer_options& options;
  std::unique_ptr<connection> conn;  // null after a failure that called for a fresh one

  mutable std::mutex mutex;  // guards the queue, stopping, stats and unrecorded
  std::condition_variable wake;
  std::deque<capture> queue;
  std::uint64_t queued_bytes = 0;  // queued_size of what the queue holds
  bool stopping = false;
  writer_stats stats;
  drop_counts unrecorded{};  // counted in stats, not yet added to the file's counters

  // The writer thread's own.
  steady::time_point next_retention = steady::now();
  steady::time_point last_warning = steady::now() - warning_interval;
  drop_counts warned{};  // the drops the last warning covered
  std::string latest_failure;  // the last database failure, kept after recovery for the warning
  bool failing = false;
  std::uint64_t dropped_before_failing = 0;  // all drops when the current failure began
  bool retention_recorded = false;
  std::thread thread;
};

void capture_writer::impl::count_drops(drop_reason r, std::uint64_t n) {
  stats.dropped[static_cast<std::size_t>(r)] += n;
  unrecorded[static_cast<std::size_t>(r)] += n;
}

void capture_writer::impl::take_batch(std::vector<capture>& batch) {
  std::uint64_t bytes = 0;
  // Under a small --store-max-size, a batch is a fraction of it: one that cannot fit is dropped whole.
  auto limit = options.max_database_bytes > 0 ? std::min(batch_bytes_limit, options.max_database_bytes / 8)
                                               : batch_bytes_limit;
  while (!queue.empty() && batch.size() < batch_size && (batch.empty() || bytes < limit)) {
    auto size = queued_size(queue.front());
    bytes += size;
    queued_bytes -= std::min(queued_bytes, size);
    batch.push_back(std::move(queue.front()));
    queue.pop_front();
  }
  if (queue.empty()) queued_bytes = 0;
}

void capture_writer::impl::run() {
  // Serving requests comes first: when the proxy and the writer compete for a core (a
  // storm of failures on a small container), the writer gets the leftovers, its queue
  // fills, and the captures it cannot take are dropped and counted — the relay never
  // slows down to wait for the disk, through the queue or through the CPU.
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), writer_nice);
  std::vector<capture> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex);
      wake.wait_until(lock, next_retention, [&] { return stopping || !queue.empty(); });
      if (stopping) break;
      take_batch(batch);
    }
    if (!batch.empty()) store(batch);
    if (steady::now() >= next_retention) apply_retention();
    warn_about_drops();
  }
  drain_at_exit();
}

void capture_writer::impl::store(std::vector<capture>& batch) {
  std::uint64_t n = batch.size();
  std::uint64_t batch_bytes = 0;
  try {
    std::vector<pending_row> rows;
    rows.reserve(batch.size());
    for (auto& c : batch) {
      rows.push_back(prepare_row(std::move(c), options.redaction));
      batch_bytes += static_cast<std::uint64_t>(rows.back().size);
    }
    batch.clear();

    // Never fill the file system: in WAL mode even deleting needs room to write, so a
    // full one would stop retention and `hindsight prune` too.
    if (options.min_free_bytes > 0) {
      auto dir = options.database.parent_path();
      if (auto available = free_space(dir); available && *available < options.min_free_bytes + batch_bytes) {
        fail(drop_reason::database_full, n,
             "the file system holding '" + (dir.empty() ? std::string(".") : dir.string()) + "' is nearly full (" +
                 mib_text(*available) + " free; hindsight leaves " + mib_text(options.min_free_bytes) +
                 " free for deletions and checkpoints and stores nothing more until there is room)");
        return;
      }
    }

    // A storm repeats a few failures many times: each group is updated once per batch.
    struct group_batch {
      const pending_row* first = nullptr;
      std::int64_t count = 0, first_us = 0, last_us = 0, id = 0;
    };
    std::unordered_map<std::string_view, group_batch> groups;
    for (const auto& row : rows) {
      auto& g = groups[row.fingerprint];
      if (!g.first) {
        g.first = &row;
        g.first_us = g.last_us = row.c.time_us;
      }
      ++g.count;
      g.first_us = std::min(g.first_us, row.c.time_us);
      g.last_us = std::max(g.last_us, row.c.time_us);
    }

    drop_counts recording;
    bool over_limits = false;
    for (bool retried = false;; retried = true) {
      try {
        if (!conn) conn = std::make_unique<connection>(options);
        sqlite::transaction t(conn->db);
        if (!retention_recorded) conn->record_retention(options.keep);
        // Read once the lock is held, so the drops that happened while waiting for it go too.
        {
          std::lock_guard lock(mutex);
          recording = unrecorded;
        }
        for (auto& [fingerprint, g] : groups) g.id = conn->add_to_group(*g.first, g.count, g.first_us, g.last_us);
        for (auto& row : rows) conn->insert(row, groups[row.fingerprint].id);
        conn->add_to_counter("stored", n);
        for (std::size_t r = 0; r < reasons; ++r) conn->add_to_counter(counter_name(drop_reason(r)), recording[r]);
        over_limits = conn->over_limits(options.keep);
        t.commit();
        break;
      } catch (const error& e) {
        // Under --store-max-size the newest failures matter more than the oldest: make
        // room, even within the retention limits, and try this batch once more.
        if (retried || options.max_database_bytes == 0 || reason_for(e.code) != drop_reason::database_full ||
            !make_room(batch_bytes + options.max_database_bytes / 10))
          throw;
      }
    }
    retention_recorded = true;
    // This batch took the store beyond --retain-rows or --retain-bytes: delete right
    // after it, not up to a second later, so that a storm cannot outgrow retention.
    if (over_limits) next_retention = steady::now();

    std::uint64_t dropped = 0;
    {
      std::lock_guard lock(mutex);
      stats.stored += n;
      for (std::size_t r = 0; r < reasons; ++r) unrecorded[r] -= recording[r];
      stats.last_error.clear();
      for (auto d : stats.dropped) dropped += d;
    }
    if (failing) {
      failing = false;
      spdlog::info("capturing resumed: the database '{}' takes writes again ({} captures were dropped meanwhile)",
                   options.database.string(), dropped - dropped_before_failing);
    }
  } catch (const error& e) {
    auto reason = reason_for(e.code);
    // A full or busy database is still a sound connection; anything else may not be.
    if (reason == drop_reason::database_error) conn.reset();
    // Retention may free the room this batch lacked; do not wait for the next round.
    if (reason == drop_reason::database_full) next_retention = steady::now();
    // The statement that failed is for a debug log; users get SQLite's word for the cause.
    spdlog::debug("storing {} captures failed: {}", n, e.what());
    fail(reason, n,
         e.code == 0 ? e.what()
                     : "cannot store captures in '" + options.database.string() + "': " + sqlite3_errstr(e.code));
  } catch (const std::exception& e) {
    fail(drop_reason::database_error, n, std::string("cannot store captures: ") + e.what());
  }
  batch.clear();
}

void capture_writer::impl::fail(drop_reason r, std::uint64_t n, std::string why) {
  latest_failure = why;
  std::lock_guard lock(mutex);
  if (!failing) {
    failing = true;
    dropped_before_failing = 0;
    for (auto d : stats.dropped) dropped_before_failing += d;
  }
  count_drops(r, n);
  stats.last_error = std::move(why);
}

void capture_writer::impl::apply_retention() {
  next_retention = steady::now() + retention_interval;
  try {
    if (!conn) conn = std::make_unique<connection>(options);
    bool beyond = false;
    auto deleted = delete_oldest(conn->db, options.keep, now_us(), retention_rows_per_transaction, &beyond);
    release_free_pages(conn->db, vacuum_pages_per_pass);
    // Move what was written into the file now, so the WAL does not hold it all.
    if (deleted > 0) conn->db.pragma("wal_checkpoint", "PASSIVE");
    {
      std::lock_guard lock(mutex);
      stats.pruned += deleted;
    }
    // More is beyond the limits after this pass's budget: go on right after the next
    // capture batch, not a second later, each transaction still small.
    if (beyond) next_retention = steady::now();
  } catch (const std::exception& e) {
    // Not a drop, and a failing database shows in the next batch's error; keep a trace.
    spdlog::debug("retention on '{}' failed: {}", options.database.string(), e.what());
  }
}

bool capture_writer::impl::make_room(std::uint64_t bytes) {
  try {
    auto stored = conn->stored_bytes();
    // The oldest captures worth `bytes` (at least one), in one bounded deletion.
    retention keep{.rows = 0, .bytes = std::max<std::uint64_t>(1, stored > bytes ? stored - bytes : 0),
                   .age = std::chrono::seconds(0)};
    auto freed = delete_oldest(conn->db, keep, now_us(), retention_rows_per_transaction);
    if (freed == 0) return false;
    {
      std::lock_guard lock(mutex);
      stats.pruned += freed;
    }
    spdlog::info("deleted the {} oldest captures in '{}' to make room for new ones under --store-max-size", freed,
                 options.database.string());
    return true;
  } catch (const std::exception& e) {
    spdlog::debug("making room in '{}' failed: {}", options.database.string(), e.what());
    return false;
  }
}

void capture_writer::impl::warn_about_drops() {
  auto now = steady::now();
  if (now - last_warning < warning_interval) return;
  drop_counts dropped;
  {
    std::lock_guard lock(mutex);
    dropped = stats.dropped;
  }
  if (dropped == warned) return;
  // The reason behind most of the drops since the last warning.
  std::size_t worst = 0;
  std::uint64_t since_warning = 0, total = 0;
  for (std::size_t r = 0; r < reasons; ++r) {
    if (dropped[r] - warned[r] > dropped[worst] - warned[worst]) worst = r;
    since_warning += dropped[r] - warned[r];
    total += dropped[r];
  }
  auto reason = drop_reason(worst);
  std::string why = reason == drop_reason::queue_full ? "the capture queue is full" : latest_failure;
  spdlog::warn("captures are being dropped: {}; {} ({} dropped since the last warning, {} since start)", why,
               advice(reason, options), since_warning, total);
  warned = dropped;
  last_warning = now;
}

void capture_writer::impl::drain_at_exit() {
  auto deadline = steady::now() + drain_time;
  std::vector<capture> batch;
  for (;;) {
    {
      std::lock_guard lock(mutex);
      if (queue.empty()) break;
      if (steady::now() >= deadline) {
        spdlog::warn("{} captures still queued at exit are not stored", queue.size());
        count_drops(drop_reason::queue_full, queue.size());
        queue.clear();
        queued_bytes = 0;
        break;
      }
      take_batch(batch);
    }
    store(batch);
  }
  record_drops_at_exit();
}

void capture_writer::impl::record_drops_at_exit() {
  drop_counts recording;
  {
    std::lock_guard lock(mutex);
    recording = unrecorded;
  }
  if (recording == drop_counts{} || !conn) return;
  try {
    sqlite::transaction t(conn->db);
    for (std::size_t r = 0; r < reasons; ++r) conn->add_to_counter(counter_name(drop_reason(r)), recording[r]);
    t.commit();
  } catch (const std::exception& e) {
    spdlog::warn("cannot record the dropped captures' counts in '{}': {}", options.database.string(), e.what());
  }
}

capture_writer::capture_writer(writer_options options) : options_(std::move(options)) {
  if (options_.max_database_bytes > 0) {
    auto cap = options_.max_database_bytes / 100 * retained_share_of_cap;
    if (options_.keep.bytes == 0 || options_.keep.bytes > cap) {
      spdlog::info("retaining at most {} of captures ({}% of --store-max-size {}, instead of --retain-bytes {}), so "
                   "that retention makes room before the cap stops inserts",
                   mib_text(cap), retained_share_of_cap, mib_text(options_.max_database_bytes),
                   options_.keep.bytes == 0 ? std::string("0 (no limit)") : mib_text(options_.keep.bytes));
      options_.keep.bytes = std::max<std::uint64_t>(1, cap);
    }
  }
  // Here, not on every reopen: closing a descriptor of the file would drop the POSIX
  // locks of this process's other connections to it.
  make_owner_only(options_.database);
  try {
    impl_ = std::make_unique<impl>(options_);
  } catch (const error& e) {
    int primary = e.code & 0xff;
    if (primary != SQLITE_CANTOPEN && primary != SQLITE_READONLY && primary != SQLITE_PERM) throw;
    throw error(std::string(e.what()) + " — the data directory must exist and be writable by this user (--data)",
                e.code);
  }
  impl_->thread = std::thread([this] { impl_->run(); });
}

capture_writer::~capture_writer() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake.notify_one();
  impl_->thread.join();
}

bool capture_writer::submit(capture&& c) noexcept {
  bool was_empty;
  auto size = queued_size(c);
  {
    std::lock_guard lock(impl_->mutex);
    was_empty = impl_->queue.empty();
    // Within both budgets; a capture alone in the queue is taken whatever its size.
    bool queued = impl_->queue.size() < options_.queue_capacity &&
                  (was_empty || impl_->queued_bytes + size <= options_.queue_bytes);
    if (queued) {
      try {
        impl_->queue.push_back(std::move(c));
        impl_->queued_bytes += size;
      } catch (const std::bad_alloc&) {
        queued = false;
      }
    }
    if (!queued) {
      impl_->count_drops(drop_reason::queue_full, 1);
      return false;
    }
  }
  // The thread waits only on an empty queue: a wake-up is needed only for the first capture.
  if (was_empty) impl_->wake.notify_one();
  return true;
}

writer_stats capture_writer::stats() const {
  std::lock_guard lock(impl_->mutex);
  auto s = impl_->stats;
  s.queue_length = impl_->queue.size();
  return s;
}

}  // namespace hindsight::store
