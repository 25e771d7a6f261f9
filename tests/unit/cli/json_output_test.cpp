#include "cli/json_output.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <limits>

using hindsight::cli::to_json_text;

TEST(JsonOutput, writes_numbers_as_people_do) {
  boost::json::object o{{"i", 12}, {"d", 1.5}, {"whole", 12.0}, {"small", 0.001}, {"u", std::uint64_t{1} << 63}};
  EXPECT_EQ(to_json_text(o), "{\"i\":12,\"d\":1.5,\"whole\":12,\"small\":0.001,\"u\":9223372036854775808}");
  EXPECT_EQ(to_json_text(std::numeric_limits<double>::quiet_NaN()), "null");
}

TEST(JsonOutput, strings_are_escaped_and_always_utf8) {
  EXPECT_EQ(to_json_text(boost::json::string("a\"b\\c\n\x01\x7f")), "\"a\\\"b\\\\c\\n\\u0001\\u007f\"");
  EXPECT_EQ(to_json_text(boost::json::string("caf\xc3\xa9")), "\"caf\xc3\xa9\"");
  EXPECT_EQ(to_json_text(boost::json::string("caf\xe9")), "\"caf\xc3\xa9\"");
  auto round_trip = boost::json::parse(to_json_text(boost::json::array{nullptr, true, "x"}));
  EXPECT_EQ(round_trip, (boost::json::array{nullptr, true, "x"}));
}
