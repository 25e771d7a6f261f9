#include "store/queries.hpp"

#include <gtest/gtest.h>

#include "store/schema.hpp"
#include "store/sqlite.hpp"
#include "store_test_support.hpp"

using namespace hindsight::store;
using namespace hindsight::store::testing;
using namespace std::chrono_literals;

namespace {

std::string message_of(auto&& call) {
  try {
    call();
  } catch (const error& e) {
    return e.what();
  }
  return "(no error)";
}

std::vector<std::string> paths(const std::vector<capture_summary>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.path);
  return out;
}

using strings = std::vector<std::string>;
constexpr std::int64_t minute_us = 60'000'000;

// Stores the captures, one writer batch at a time in this order, and waits for them.
void store_all(const std::filesystem::path& database, std::vector<capture> captures) {
  capture_writer w({.database = database});
  auto n = captures.size();
  for (auto& c : captures) w.submit(std::move(c));
  ASSERT_TRUE(eventually([&] { return w.stats().stored == n; }));
}

// The shop's failures, oldest first: 1 … 6.
class Queries : public ::testing::Test {
 protected:
  void SetUp() override {
    auto c = [&](std::string method, std::string target, int status, std::int64_t minutes_ago) {
      return failing_request(std::move(method), std::move(target), status, now - minutes_ago * minute_us);
    };
    store_all(dir.database(), {c("GET", "/orders/1?x=1", 500, 50), c("post", "/orders/2", 503, 40),
                               c("GET", "/cart", 502, 30), c("GET", "/orders/3/items", 500, 20),
                               c("DELETE", "/orders/4", 404, 10), c("GET", "/cart?coupon=1", 502, 5)});
  }
  // Opened once the captures are there, and kept open as the CLI's would be.
  reader& r() {
    if (!reader_) reader_.emplace(dir.database());
    return *reader_;
  }
  temp_dir dir;
  std::int64_t now = now_us();
  std::optional<reader> reader_;
};

}  // namespace

TEST(QueriesOpen, a_missing_directory_or_file_says_no_proxy_captured_there) {
  temp_dir dir;
  auto no_dir = message_of([&] { reader(dir.path / "nowhere" / "captures.db"); });
  EXPECT_NE(no_dir.find("the data directory '" + (dir.path / "nowhere").string() + "' does not exist"),
            std::string::npos)
      << no_dir;
  auto no_file = message_of([&] { reader(dir.database()); });
  EXPECT_NE(no_file.find("no captures exist yet in '" + dir.path.string() + "'"), std::string::npos) << no_file;
  EXPECT_FALSE(std::filesystem::exists(dir.database()));  // a reader never creates it
}

TEST(QueriesOpen, refuses_a_database_from_a_newer_hindsight) {
  temp_dir dir;
  {
    sqlite::database db(dir.database(), sqlite::open_mode::create);
    db.pragma("user_version", std::to_string(known_schema_version() + 1));
  }
  for (bool writable : {false, true}) {
    auto message = message_of([&] { reader(dir.database(), writable); });
    EXPECT_NE(message.find("was written by a newer hindsight"), std::string::npos) << message;
  }
}

TEST(QueriesOpen, a_read_only_reader_cannot_prune) {
  temp_dir dir;
  store_all(dir.database(), {failing_request("GET", "/", 500)});
  reader r(dir.database());
  EXPECT_NE(message_of([&] { r.prune_all(); }).find("read-only"), std::string::npos);
  EXPECT_EQ(r.summary().rows, 1u);
}

TEST(QueriesOpen, reads_next_to_a_live_writer) {
  temp_dir dir;
  capture_writer w({.database = dir.database()});
  w.submit(failing_request("GET", "/first", 500));
  ASSERT_TRUE(eventually([&] { return w.stats().stored == 1; }));
  reader r(dir.database());
  EXPECT_EQ(r.list({}).size(), 1u);
  w.submit(failing_request("GET", "/second", 500));
  ASSERT_TRUE(eventually([&] { return w.stats().stored == 2; }));
  EXPECT_EQ(paths(r.list({})), (strings{"/second", "/first"}));
}

TEST_F(Queries, list_is_newest_first_and_limited) {
  EXPECT_EQ(paths(r().list({})), (strings{"/cart", "/orders/4", "/orders/3/items", "/cart", "/orders/2", "/orders/1"}));
  list_filter two;
  two.limit = 2;
  EXPECT_EQ(paths(r().list(two)), (strings{"/cart", "/orders/4"}));
  auto newest = r().list(two)[0];
  EXPECT_EQ(newest.target, "/cart?coupon=1");
  EXPECT_EQ(newest.status, 502);
  EXPECT_EQ(newest.method, "GET");
  EXPECT_EQ(newest.time_us, now - 5 * minute_us);
  EXPECT_EQ(newest.duration_ms, 12.5);
}

TEST_F(Queries, list_filters_by_status_ranges) {
  list_filter f;
  f.statuses = {{502, 503}};
  EXPECT_EQ(paths(r().list(f)), (strings{"/cart", "/cart", "/orders/2"}));
  f.statuses = {{404, 404}, {503, 503}};
  EXPECT_EQ(paths(r().list(f)), (strings{"/orders/4", "/orders/2"}));
}

TEST_F(Queries, list_filters_by_method_in_any_case) {
  list_filter f;
  f.method = "POST";
  EXPECT_EQ(paths(r().list(f)), (strings{"/orders/2"}));
  f.method = "delete";
  EXPECT_EQ(paths(r().list(f)), (strings{"/orders/4"}));
}

TEST_F(Queries, list_filters_by_a_glob_on_the_path_without_the_query) {
  list_filter f;
  f.path_glob = "/orders/*";
  EXPECT_EQ(paths(r().list(f)), (strings{"/orders/4", "/orders/3/items", "/orders/2", "/orders/1"}));
  f.path_glob = "/cart";  // the query is not part of the path
  EXPECT_EQ(r().list(f).size(), 2u);
  f.path_glob = "*items";
  EXPECT_EQ(paths(r().list(f)), (strings{"/orders/3/items"}));
}

TEST_F(Queries, list_filters_by_time_and_group_together) {
  list_filter f;
  f.since_us = now - 30 * minute_us;  // at or after
  EXPECT_EQ(paths(r().list(f)), (strings{"/cart", "/orders/4", "/orders/3/items", "/cart"}));
  f.group_id = r().list(f)[0].group_id;  // GET /cart 502, twice
  EXPECT_EQ(paths(r().list(f)), (strings{"/cart", "/cart"}));
  f.since_us = now - 25 * minute_us;
  EXPECT_EQ(paths(r().list(f)), (strings{"/cart"}));
}

TEST_F(Queries, groups_are_newest_first) {
  auto groups = r().groups(0);
  ASSERT_EQ(groups.size(), 5u);
  EXPECT_EQ(groups[0].fingerprint, "GET /cart 502");
  EXPECT_EQ(groups[0].count, 2u);
  EXPECT_EQ(groups[0].first_seen_us, now - 30 * minute_us);
  EXPECT_EQ(groups[0].last_seen_us, now - 5 * minute_us);
  EXPECT_EQ(groups[1].fingerprint, "DELETE /orders/{int} 404");
  EXPECT_EQ(groups[2].fingerprint, "GET /orders/{int}/items 500");
  EXPECT_EQ(groups[4].fingerprint, "GET /orders/{int} 500");
  EXPECT_EQ(r().groups(2).size(), 2u);
}

TEST_F(Queries, summary_counts_agree_with_the_rows_after_deletes) {
  auto before = r().summary();
  EXPECT_EQ(before.schema_version, known_schema_version());
  EXPECT_EQ(before.rows, 6u);
  EXPECT_EQ(before.groups, 5u);
  EXPECT_EQ(before.stored_total, 6u);
  EXPECT_EQ(before.oldest_us, now - 50 * minute_us);
  EXPECT_EQ(before.newest_us, now - 5 * minute_us);
  EXPECT_GT(before.file_bytes, 0u);
  ASSERT_EQ(before.dropped_total.size(), 4u);  // every reason, zeros too
  EXPECT_EQ(before.dropped_total[0], (std::pair<std::string, std::uint64_t>{"queue_full", 0}));

  EXPECT_EQ(reader(dir.database(), true).prune({.rows = 2, .bytes = 0, .age = 0s}), 4u);
  auto after = r().summary();
  EXPECT_EQ(after.rows, 2u);
  sqlite::database db(dir.database(), sqlite::open_mode::read_only);
  sqlite::statement sum(db, "SELECT sum(size) FROM captures");
  ASSERT_TRUE(sum.step());
  EXPECT_EQ(after.bytes, static_cast<std::uint64_t>(sum.column_int64(0)));
  EXPECT_LT(after.bytes, before.bytes);
  EXPECT_EQ(after.groups, 2u);  // groups without captures left go too
  EXPECT_EQ(after.oldest_us, now - 10 * minute_us);
  EXPECT_EQ(after.stored_total, 6u);  // counters are over the file's life
}

TEST_F(Queries, prune_by_age_and_by_bytes) {
  reader writable(dir.database(), true);
  EXPECT_EQ(writable.prune({.rows = 0, .bytes = 0, .age = 25min}), 3u);
  EXPECT_EQ(paths(writable.list({})), (strings{"/cart", "/orders/4", "/orders/3/items"}));
  auto bytes = writable.summary().bytes;
  EXPECT_EQ(writable.prune({.rows = 0, .bytes = bytes - 1, .age = 0s}), 1u);
  EXPECT_EQ(paths(writable.list({})), (strings{"/cart", "/orders/4"}));
}

TEST_F(Queries, prune_all_empties_captures_and_groups_but_keeps_counters) {
  auto big = failing_request("PUT", "/upload", 500);
  big.request_body = std::string(4 << 20, 'x');
  store_all(dir.database(), {std::move(big)});
  auto full = r().summary().file_bytes;
  reader writable(dir.database(), true);
  EXPECT_EQ(writable.prune_all(), 7u);
  auto empty = writable.summary();
  EXPECT_EQ(empty.rows, 0u);
  EXPECT_EQ(empty.bytes, 0u);
  EXPECT_EQ(empty.groups, 0u);
  EXPECT_FALSE(empty.oldest_us);
  EXPECT_EQ(empty.stored_total, 7u);
  EXPECT_LT(empty.file_bytes, full / 4);  // vacuumed and checkpointed
  EXPECT_TRUE(writable.list({}).empty());
}

TEST(QueriesOpen, the_writer_records_the_retention_in_force_for_a_later_prune) {
  temp_dir dir;
  {
    capture_writer w({.database = dir.database(), .keep = {.rows = 7, .bytes = 123456, .age = 3h}});
    w.submit(failing_request("GET", "/", 500));
    ASSERT_TRUE(eventually([&] { return w.stats().stored == 1; }));
  }
  auto recorded = reader(dir.database()).recorded_retention();
  ASSERT_TRUE(recorded);
  EXPECT_EQ(recorded->rows, 7u);
  EXPECT_EQ(recorded->bytes, 123456u);
  EXPECT_EQ(recorded->age, 3h);
  // The next proxy's replaces it; under --store-max-size the bytes in force are what is recorded.
  { capture_writer w({.database = dir.database(), .keep = {.rows = 0, .bytes = 0, .age = 0s}, .max_database_bytes = 10 << 20}); }
  recorded = reader(dir.database()).recorded_retention();
  ASSERT_TRUE(recorded);
  EXPECT_EQ(recorded->rows, 0u);
  EXPECT_EQ(recorded->bytes, (10u << 20) / 100 * 80);
  EXPECT_EQ(recorded->age, 0s);
  auto summary = reader(dir.database()).summary();
  EXPECT_EQ(summary.stored_total, 1u);  // the recorded values are no counts
}

TEST(QueriesOpen, a_database_without_recorded_retention_says_so) {
  temp_dir dir;
  {
    sqlite::database db(dir.database(), sqlite::open_mode::create);
    prepare_for_writing(db);
  }
  EXPECT_FALSE(reader(dir.database()).recorded_retention());
}
