#include "cli/store_options.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>

using namespace hindsight::cli;
using ranges = std::vector<std::pair<int, int>>;

TEST(StatusList, reads_statuses_ranges_classes_and_lists) {
  EXPECT_EQ(parse_status_list("500"), (ranges{{500, 500}}));
  EXPECT_EQ(parse_status_list("500-599"), (ranges{{500, 599}}));
  EXPECT_EQ(parse_status_list("5xx"), (ranges{{500, 599}}));
  EXPECT_EQ(parse_status_list("4XX"), (ranges{{400, 499}}));
  EXPECT_EQ(parse_status_list("500-599,429"), (ranges{{500, 599}, {429, 429}}));
  EXPECT_EQ(parse_status_list(" 502 , 504 "), (ranges{{502, 502}, {504, 504}}));
}

TEST(StatusList, refuses_bad_input_naming_the_part) {
  for (auto bad : {"", "abc", "50", "5000", "600", "099", "599-500", "500,", ",500", "500,,502", "6xx", "5x", "500-", "-500",
                   "500-599-600", "+500"})
    EXPECT_THROW(parse_status_list(bad), usage_error) << bad;
  try {
    parse_status_list("500,abc");
    FAIL();
  } catch (const usage_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("'abc'"), std::string::npos) << what;
    EXPECT_NE(what.find("5xx"), std::string::npos) << what;
  }
}

TEST(Size, option_values_are_usage_errors_naming_the_option) {
  EXPECT_EQ(size_option("--retain-bytes", "1GiB"), 1ull << 30);
  EXPECT_EQ(size_option("--retain-bytes", "500MB"), 500'000'000u);
  try {
    size_option("--retain-bytes", "lots");
    FAIL();
  } catch (const usage_error& e) {
    EXPECT_NE(std::string(e.what()).find("--retain-bytes"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'lots'"), std::string::npos) << e.what();
  }
}

TEST(Size, measured_amounts_round_to_one_decimal) {
  EXPECT_EQ(rounded_size_text(0), "0 B");
  EXPECT_EQ(rounded_size_text(1023), "1023 B");
  EXPECT_EQ(rounded_size_text(65536), "64.0 KiB");
  EXPECT_EQ(rounded_size_text(1ull << 30), "1.0 GiB");
  EXPECT_EQ(rounded_size_text(12'900'000), "12.3 MiB");
}

TEST(StoreLocation, names_a_missing_data_directory) {
  auto missing = std::filesystem::temp_directory_path() / ("hindsight-missing-" + std::to_string(::getpid()));
  try {
    locate_store(missing.string());
    FAIL();
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("no data directory at '" + missing.string() + "'"), std::string::npos) << what;
    EXPECT_NE(what.find("--data"), std::string::npos) << what;
  }
  auto here = locate_store(std::filesystem::temp_directory_path().string() + "/");
  EXPECT_EQ(here.data, std::filesystem::temp_directory_path());
  EXPECT_EQ(here.database, std::filesystem::temp_directory_path() / "captures.db");
  EXPECT_EQ(here.control, std::filesystem::temp_directory_path() / "control.sock");
}

TEST(RunCommand, maps_failures_to_exit_statuses) {
  EXPECT_EQ(run_command([] { return 0; }), 0);
  EXPECT_EQ(run_command([]() -> int { throw usage_error("bad value"); }), 2);
  EXPECT_EQ(run_command([]() -> int { throw std::runtime_error("store failed"); }), 1);
}
