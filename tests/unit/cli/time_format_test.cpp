#include "cli/time_format.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

using namespace hindsight::cli;

namespace {
constexpr std::int64_t t_2026_11_26_14_02_03_123 = 1'795'701'723'123'456;  // µs
}

TEST(TimeFormat, prints_utc_iso8601) {
  EXPECT_EQ(iso8601_ms(t_2026_11_26_14_02_03_123), "2026-11-26T14:02:03.123Z");
  EXPECT_EQ(iso8601_seconds(t_2026_11_26_14_02_03_123), "2026-11-26T14:02:03Z");
  EXPECT_EQ(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(iso8601_ms(-1), "1969-12-31T23:59:59.999Z");
}

TEST(TimeFormat, reads_back_what_it_prints_and_shorter_forms) {
  EXPECT_EQ(parse_iso8601("2026-11-26T14:02:03.123456Z"), t_2026_11_26_14_02_03_123);
  EXPECT_EQ(parse_iso8601("2026-11-26T14:02:03Z"), t_2026_11_26_14_02_03_123 - 123'456);
  EXPECT_EQ(parse_iso8601("2026-11-26 14:02:03"), t_2026_11_26_14_02_03_123 - 123'456);
  EXPECT_EQ(parse_iso8601("2026-11-26T14:02"), t_2026_11_26_14_02_03_123 - 3'123'456);
  EXPECT_EQ(parse_iso8601("2026-11-26"), t_2026_11_26_14_02_03_123 - (14 * 3600 + 2 * 60 + 3) * 1'000'000LL - 123'456);
  EXPECT_EQ(parse_iso8601("2026-11-26T15:02:03+01:00"), t_2026_11_26_14_02_03_123 - 123'456);
  EXPECT_EQ(parse_iso8601("2026-11-26T13:32:03-0030"), t_2026_11_26_14_02_03_123 - 123'456);
}

TEST(TimeFormat, refuses_malformed_times) {
  for (auto bad : {"", "2026", "2026-13-01", "2026-02-30", "2026-11-26T25:00", "2026-11-26T14", "2026-11-26T14:02:03.Z",
                   "2026-11-26T14:02 junk", "26-11-2026"})
    EXPECT_THROW(parse_iso8601(bad), std::invalid_argument) << bad;
}

TEST(TimeFormat, since_takes_a_duration_back_or_a_time) {
  const std::int64_t now = t_2026_11_26_14_02_03_123;
  EXPECT_EQ(parse_since("1h", now), now - 3'600'000'000LL);
  EXPECT_EQ(parse_since("90s", now), now - 90'000'000LL);
  EXPECT_EQ(parse_since("2d", now), now - 2 * 86'400'000'000LL);
  EXPECT_EQ(parse_since("2026-11-26T14:00Z", now), parse_iso8601("2026-11-26T14:00"));
  try {
    parse_since("yesterday", now);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'yesterday'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("1h"), std::string::npos);
  }
}

TEST(TimeFormat, durations_keep_three_significant_digits) {
  EXPECT_EQ(format_duration_ms(0.42), "0.42 ms");
  EXPECT_EQ(format_duration_ms(4.25), "4.2 ms");
  EXPECT_EQ(format_duration_ms(123.4), "123 ms");
  EXPECT_EQ(format_duration_ms(1234), "1.23 s");
  EXPECT_EQ(format_duration_ms(12'345), "12.3 s");
  EXPECT_EQ(format_duration_ms(123'456), "123 s");
  EXPECT_EQ(format_duration_ms(-1), "?");
}

TEST(TimeFormat, elapsed_times_in_two_units) {
  EXPECT_EQ(format_elapsed(45.9), "45s");
  EXPECT_EQ(format_elapsed(725), "12m 05s");
  EXPECT_EQ(format_elapsed(7380), "2h 03m");
  EXPECT_EQ(format_elapsed(3 * 86'400 + 4 * 3600 + 59), "3d 4h");
}
