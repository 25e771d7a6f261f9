#include "replay/result_view.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "store/replay_record.hpp"

using namespace hindsight::replay;
namespace json = boost::json;

namespace {

json::object model(std::string_view text) { return json::parse(text).as_object(); }

const char* key_error = R"J({"type":"KeyError","module":"builtins","message":"'EU-X'","chain":[],"notes":[],
  "frames":[
   {"file":"/usr/lib/python3/dist-packages/flask/app.py","line":1823,"function":"full_dispatch_request","app":false,
    "source":[[1822,"        try:\n"],[1823,"            rv = self.dispatch_request()\n"]],"source_line":1823,
    "locals":{"self":"<Flask 'app'>"}},
   {"file":"/app/shop/pricing.py","line":24,"function":"unit_price","app":true,
    "source":[[23,"def unit_price(sku, region):\n"],[24,"    return PRICES[region][sku]\n"],[25,"\n"]],"source_line":24,
    "locals":{"sku":"'A-1'","region":"'EU-X'"}}]})J";

}  // namespace

TEST(ResultView, prints_a_traceback_as_python_does_with_the_locals_of_app_frames) {
  EXPECT_EQ(traceback_text(model(key_error)),
            "Traceback (most recent call last):\n"
            "  File \"/usr/lib/python3/dist-packages/flask/app.py\", line 1823, in full_dispatch_request\n"
            "    rv = self.dispatch_request()\n"
            "  File \"/app/shop/pricing.py\", line 24, in unit_price\n"
            "    return PRICES[region][sku]\n"
            "      sku = 'A-1'\n"
            "      region = 'EU-X'\n"
            "KeyError: 'EU-X'\n");
}

TEST(ResultView, prints_the_chain_innermost_first_with_python_s_sentences) {
  auto m = model(R"J({"type":"RuntimeError","module":"builtins","message":"outer",
    "frames":[{"file":"/app/v.py","line":9,"function":"view","app":true,"source":[[9,"raise RuntimeError('outer') from e"]],"locals":{}}],
    "chain":[
      {"relation":"cause","type":"ValueError","module":"builtins","message":"middle",
       "frames":[{"file":"/app/v.py","line":5,"function":"view","app":true,"source":[],"locals":{}}]},
      {"relation":"context","type":"IntegrityError","module":"sqlite3","message":"UNIQUE constraint failed",
       "frames":[{"file":"/app/db.py","line":2,"function":"insert","app":true,"source":[],"locals":{}}]}],
    "notes":["while saving order 7"]})J");
  EXPECT_EQ(traceback_text(m),
            "Traceback (most recent call last):\n"
            "  File \"/app/db.py\", line 2, in insert\n"
            "sqlite3.IntegrityError: UNIQUE constraint failed\n"
            "\nDuring handling of the above exception, another exception occurred:\n\n"
            "Traceback (most recent call last):\n"
            "  File \"/app/v.py\", line 5, in view\n"
            "ValueError: middle\n"
            "\nThe above exception was the direct cause of the following exception:\n\n"
            "Traceback (most recent call last):\n"
            "  File \"/app/v.py\", line 9, in view\n"
            "    raise RuntimeError('outer') from e\n"
            "RuntimeError: outer\n"
            "while saving order 7\n");
}

TEST(ResultView, escapes_control_characters_from_the_app) {
  auto m = model(R"J({"type":"ValueError","module":"builtins","message":"bad \u001b[2J name","frames":[]})J");
  EXPECT_EQ(traceback_text(m), "ValueError: bad \\x1b[2J name\n");
}

TEST(ResultView, parses_status_lines) {
  auto s = parse_status("500 Internal Server Error");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->code, 500);
  EXPECT_EQ(s->reason, "Internal Server Error");
  EXPECT_EQ(parse_status("204")->code, 204);
  EXPECT_FALSE(parse_status("OK"));
  EXPECT_FALSE(parse_status("50x Nope"));
  EXPECT_FALSE(parse_status(""));
}

namespace {
replay_result completed_500() {
  replay_result r;
  r.capture_id = 3;
  r.replay_id = 9;
  r.how = outcome::completed;
  r.response = model(R"J({"type":"response","status":"500 Internal Server Error",
    "headers":[["Content-Type","text/html; charset=utf-8"]],"body_size":21,"body_truncated":false,
    "rolled_back":["database default","mail (0 messages)"],"duration_ms":4.5,"debugger_used":false})J");
  r.response["exception"] = model(key_error);
  r.exception = model(key_error);
  r.body = "<h1>Server Error</h1>";
  r.duration_ms = 12.25;
  return r;
}
}  // namespace

TEST(ResultView, json_holds_the_interface_fields) {
  auto j = result_to_json(completed_500());
  EXPECT_EQ(j.at("capture_id"), 3);
  EXPECT_EQ(j.at("replay_id"), 9);
  EXPECT_EQ(j.at("outcome"), "completed");
  EXPECT_TRUE(j.at("error").is_null());
  EXPECT_EQ(j.at("status"), 500);
  EXPECT_EQ(j.at("reason"), "Internal Server Error");
  EXPECT_EQ(j.at("headers"), (json::array{json::array{"Content-Type", "text/html; charset=utf-8"}}));
  EXPECT_EQ(j.at("body_base64"), "PGgxPlNlcnZlciBFcnJvcjwvaDE+");
  EXPECT_EQ(j.at("body_truncated"), false);
  EXPECT_EQ(j.at("rolled_back"), (json::array{"database default", "mail (0 messages)"}));
  EXPECT_EQ(j.at("exception").at("type"), "KeyError");
  EXPECT_EQ(j.at("exception").at("frames").as_array().at(1).at("line"), 24);
  EXPECT_EQ(j.at("duration_ms").to_number<double>(), 12.25);
}

TEST(ResultView, json_of_a_replay_that_did_not_run) {
  replay_result r;
  r.capture_id = 3;
  r.how = outcome::timeout;
  r.error = "the request did not finish within 1 s";
  auto j = result_to_json(r);
  EXPECT_EQ(j.at("outcome"), "timeout");
  EXPECT_EQ(j.at("error"), "the request did not finish within 1 s");
  EXPECT_TRUE(j.at("status").is_null());
  EXPECT_TRUE(j.at("exception").is_null());
  EXPECT_TRUE(j.at("replay_id").is_null());
  EXPECT_TRUE(j.at("body_base64").is_null());
}

TEST(ResultView, text_shows_status_headers_body_traceback_and_rollback) {
  auto text = result_text(completed_500(), 8192);
  EXPECT_EQ(text.rfind("replay 9 of capture 3: 500 Internal Server Error (12.2 ms)\n", 0), 0u) << text;
  EXPECT_NE(text.find("Content-Type: text/html; charset=utf-8\n\n<h1>Server Error</h1>\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nTraceback (most recent call last):\n"), std::string::npos) << text;
  EXPECT_NE(text.find("KeyError: 'EU-X'\n"), std::string::npos) << text;
  EXPECT_NE(text.find("rolled back: database default, mail (0 messages)\n"), std::string::npos) << text;
}

TEST(ResultView, text_bounds_the_body_and_dumps_binary) {
  auto r = completed_500();
  r.exception = nullptr;
  r.body = std::string(100, 'x');
  r.response["body_size"] = 100;
  auto text = result_text(r, 10);
  EXPECT_NE(text.find("xxxxxxxxxx\n… 90 more bytes"), std::string::npos) << text;
  r.body = std::string("\x00\x01\x02\xff", 4);
  r.response["body_size"] = 4;
  text = result_text(r, 10);
  EXPECT_NE(text.find("4 bytes of binary"), std::string::npos) << text;
  EXPECT_NE(text.find("00 01 02 ff"), std::string::npos) << text;
}

TEST(ResultView, an_upstream_replay_names_the_app_and_claims_no_rollback) {
  auto r = completed_500();
  r.exception = nullptr;
  r.target = "upstream";
  r.upstream = "unix:/srv/app.sock";
  auto text = result_text(r, 8192);
  EXPECT_EQ(text.rfind("replay 9 of capture 3 by the app at unix:/srv/app.sock: 500 Internal Server Error", 0), 0u)
      << text;
  EXPECT_EQ(text.find("rolled back"), std::string::npos) << text;
  auto j = result_to_json(r);
  EXPECT_EQ(j.at("target"), "upstream");
  EXPECT_EQ(j.at("upstream"), "unix:/srv/app.sock");
  EXPECT_EQ(result_to_json(completed_500()).at("target"), "worker");
  EXPECT_FALSE(result_to_json(completed_500()).contains("upstream"));
}

TEST(ResultView, a_live_session_is_titled_with_its_rule) {
  auto r = completed_500();
  r.trigger = "pdb-\x1b[2Jq";
  auto text = result_text(r, 8192);
  EXPECT_EQ(text.rfind("live session 9 of capture 3 (rule 'pdb-\\x1b[2Jq'): 500 Internal Server Error (12.2 ms)\n", 0),
            0u)
      << text;
  hindsight::store::replay_record row;
  row.id = 9;
  row.capture_id = 3;
  row.outcome = "completed";
  row.trigger = "pdb-q";
  EXPECT_EQ(result_from_record(row).trigger, "pdb-q");
  EXPECT_EQ(result_from_record(row).how, outcome::completed);
}
