#include "cli/duration.hpp"

#include <gtest/gtest.h>

using hindsight::cli::parse_duration;
using namespace std::chrono_literals;

TEST(Duration, takes_seconds_by_default_and_units) {
  EXPECT_EQ(parse_duration("10"), 10s);
  EXPECT_EQ(parse_duration("10s"), 10s);
  EXPECT_EQ(parse_duration("500ms"), 500ms);
  EXPECT_EQ(parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(parse_duration("2m"), 2min);
  EXPECT_EQ(parse_duration("1h"), 1h);
  EXPECT_EQ(parse_duration("0"), 0ms);
}

TEST(Duration, refuses_what_it_cannot_read) {
  for (auto bad : {"", "s", "-1", "10x", "ten", "1 s", "1e20h"}) EXPECT_THROW(parse_duration(bad), std::invalid_argument) << bad;
}
