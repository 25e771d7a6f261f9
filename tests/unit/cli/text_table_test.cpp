#include "cli/text_table.hpp"

#include <gtest/gtest.h>

using hindsight::cli::text_table;

TEST(TextTable, pads_columns_by_code_points_and_trims_line_ends) {
  text_table t({{"N", text_table::align::right}, {"NAME"}, {"NOTE"}});
  t.add_row({"1", "caf\xc3\xa9", ""});
  t.add_row({"100", "x", "long note"});
  EXPECT_EQ(t.render(),
            "  N  NAME  NOTE\n"
            "  1  caf\xc3\xa9\n"
            "100  x     long note\n");
}
