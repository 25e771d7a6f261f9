// The pure parts of list, status and prune: filters, retention, reports.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "cli/json_output.hpp"
#include "cli/list_command.hpp"
#include "cli/prune_command.hpp"
#include "cli/status_command.hpp"
#include "cli/store_options.hpp"

using namespace hindsight;
using namespace hindsight::cli;

TEST(ListCommand, builds_the_store_filter_from_the_options) {
  list_options o;
  o.status = "5xx,429";
  o.method = "post";
  o.path = "/api/*";
  o.since = "1h";
  o.group = "7";
  o.limit = 10;
  auto f = list_filter_from(o, 10'000'000'000);
  EXPECT_EQ(f.statuses, (std::vector<std::pair<int, int>>{{500, 599}, {429, 429}}));
  EXPECT_EQ(f.method, "post");
  EXPECT_EQ(f.path_glob, "/api/*");
  EXPECT_EQ(f.since_us, 10'000'000'000 - 3'600'000'000LL);
  EXPECT_EQ(f.group_id, 7);
  EXPECT_EQ(f.limit, 10u);
  EXPECT_FALSE(list_filter_from(list_options{}, 0).since_us);
}

TEST(ListCommand, bad_filters_are_usage_errors) {
  for (auto setter : std::vector<void (*)(list_options&)>{
           [](list_options& o) { o.status = "5"; },
           [](list_options& o) { o.since = "yesterday"; },
           [](list_options& o) { o.group = "x"; },
           [](list_options& o) { o.group = "0"; },
       }) {
    list_options o;
    setter(o);
    EXPECT_THROW(list_filter_from(o, 0), usage_error);
  }
}

TEST(ListCommand, filters_groups_like_captures) {
  auto group = [](std::int64_t id, std::string method, std::string route, int status, std::int64_t last) {
    store::group_summary g;
    g.id = id;
    g.method = std::move(method);
    g.route = std::move(route);
    g.status = status;
    g.last_seen_us = last;
    return g;
  };
  std::vector<store::group_summary> all{group(1, "GET", "/orders/{int}", 500, 100), group(2, "POST", "/checkout", 502, 200),
                                        group(3, "GET", "/health", 429, 300)};
  auto ids = [](const std::vector<store::group_summary>& gs) {
    std::vector<std::int64_t> out;
    for (auto& g : gs) out.push_back(g.id);
    return out;
  };
  store::list_filter f;
  EXPECT_EQ(ids(filter_groups(all, f)), (std::vector<std::int64_t>{1, 2, 3}));
  f.statuses = {{500, 599}};
  EXPECT_EQ(ids(filter_groups(all, f)), (std::vector<std::int64_t>{1, 2}));
  f.method = "get";
  EXPECT_EQ(ids(filter_groups(all, f)), (std::vector<std::int64_t>{1}));
  f = {};
  f.path_glob = "/orders/*";
  EXPECT_EQ(ids(filter_groups(all, f)), (std::vector<std::int64_t>{1}));
  f = {};
  f.since_us = 200;
  EXPECT_EQ(ids(filter_groups(all, f)), (std::vector<std::int64_t>{2, 3}));
  f = {};
  f.group_id = 3;
  EXPECT_EQ(ids(filter_groups(all, f)), (std::vector<std::int64_t>{3}));
}

TEST(PruneCommand, retention_comes_from_options_then_the_proxy_then_the_defaults) {
  prune_options o;
  auto keep = retention_from(o, nullptr);
  EXPECT_EQ(keep.rows, store::retention{}.rows);
  EXPECT_EQ(keep.bytes, store::retention{}.bytes);
  EXPECT_EQ(keep.age, store::retention{}.age);

  auto reply = boost::json::parse(R"({"retention":{"rows":10,"bytes":2048,"days":0.5}})").as_object();
  keep = retention_from(o, &reply);
  EXPECT_EQ(keep.rows, 10u);
  EXPECT_EQ(keep.bytes, 2048u);
  EXPECT_EQ(keep.age, std::chrono::hours(12));

  o.retain_bytes = "1GiB";
  o.retain_days = "0";
  keep = retention_from(o, &reply);
  EXPECT_EQ(keep.rows, 10u);
  EXPECT_EQ(keep.bytes, 1ull << 30);
  EXPECT_EQ(keep.age, std::chrono::seconds(0));
  EXPECT_EQ(retention_text(keep), "10 rows, 1 GiB, no age limit");
  EXPECT_EQ(retention_text(store::retention{}), "100000 rows, 1 GiB, 14 days");

  for (auto bad : {"-1", "x", "1.5"}) {
    prune_options p;
    p.retain_rows = bad;
    EXPECT_THROW(retention_from(p, nullptr), usage_error) << bad;
  }
  prune_options p;
  p.retain_days = "soon";
  EXPECT_THROW(retention_from(p, nullptr), usage_error);
}

namespace {

store::store_summary summary() {
  store::store_summary s;
  s.schema_version = 1;
  s.rows = 3;
  s.bytes = 2048;
  s.groups = 2;
  s.file_bytes = 4 << 20;
  s.oldest_us = 1'795'701'723'000'000;
  s.newest_us = 1'795'701'783'000'000;
  s.stored_total = 5;
  s.dropped_total = {{"queue_full", 2}, {"database_full", 0}, {"database_error", 0}, {"database_busy", 0}};
  return s;
}

}  // namespace

TEST(StatusCommand, reports_no_proxy_and_the_store) {
  status_report r;
  r.data = "/srv/.hindsight";
  r.database = "/srv/.hindsight/captures.db";
  r.proxy.status = control_answer::state::not_running;
  r.proxy.problem = "no control socket at /srv/.hindsight/control.sock";
  r.store = summary();
  EXPECT_EQ(status_text(r),
            "data      /srv/.hindsight\n"
            "proxy     not running (no control socket at /srv/.hindsight/control.sock)\n"
            "store     /srv/.hindsight/captures.db\n"
            "  captures          3 (2.0 KiB), 2 groups\n"
            "  oldest            2026-11-26T14:02:03Z\n"
            "  newest            2026-11-26T14:03:03Z\n"
            "  file size         4.0 MiB (with its WAL)\n"
            "  schema            version 1\n"
            "  ever stored       5\n"
            "  ever dropped      2 (queue_full 2)\n");
  auto j = status_json(r);
  EXPECT_TRUE(j.at("proxy").is_null());
  EXPECT_EQ(j.at("store").at("rows").to_number<int>(), 3);
  EXPECT_EQ(j.at("store").at("oldest").as_string(), "2026-11-26T14:02:03.000Z");
  EXPECT_EQ(j.at("store").at("dropped_total").at("queue_full").to_number<int>(), 2);

  r.store.reset();
  EXPECT_NE(status_text(r).find("store     none yet: /srv/.hindsight/captures.db does not exist"), std::string::npos);
  EXPECT_TRUE(status_json(r).at("store").is_null());
}

TEST(StatusCommand, reports_what_the_proxy_says) {
  status_report r;
  r.data = "/d";
  r.database = "/d/captures.db";
  r.proxy.status = control_answer::state::running;
  r.proxy.reply = boost::json::parse(R"({"pid":4242,"version":"0.1.0","started":"2026-11-26T12:00:00.000Z","uptime_s":7380.5,
    "listen":"unix:/run/app.sock","upstream":"unix:/d/app.sock","app":{"supervised":true,"restarts":1},
    "capture":{"enabled":true,"statuses":"500-599","slow_ms":2000,"sample":0,"request_body_limit":1048576,
               "response_body_limit":65536,"queue_capacity":1024,"queue_length":3},
    "writer":{"stored":12,"dropped":{"queue_full":1,"database_full":0,"database_error":0,"database_busy":0},"pruned":0,"last_error":""},
    "retention":{"rows":100000,"bytes":1073741824,"days":14}})")
                        .as_object();
  r.store = summary();
  auto text = status_text(r);
  EXPECT_EQ(text.substr(0, text.find("store     ")),
            "data      /d\n"
            "proxy     running: pid 4242, hindsight 0.1.0, up 2h 03m (since 2026-11-26T12:00:00.000Z)\n"
            "  listen            unix:/run/app.sock\n"
            "  upstream          unix:/d/app.sock (supervised app, 1 restart)\n"
            "  capture           statuses 500-599, slower than 2.00 s\n"
            "  bodies            request up to 1 MiB, response up to 64 KiB\n"
            "  queue             3 of 1024\n"
            "  stored            12 since start\n"
            "  dropped           1 (queue_full 1) since start\n"
            "  pruned            0 since start\n"
            "  last error        none\n"
            "  retention         100000 rows, 1 GiB, 14 days\n");
  EXPECT_EQ(status_json(r).at("proxy").at("pid").as_int64(), 4242);

  // A reply from another version, missing fields, still prints.
  r.proxy.reply = boost::json::object{{"pid", 1}};
  EXPECT_NE(status_text(r).find("proxy     running: pid 1\n  listen            ?\n"), std::string::npos) << status_text(r);
}
