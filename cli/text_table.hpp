#pragma once
// Columns for `list` and `list --groups`: a header row, cells padded to the widest one,
// two spaces between columns, no trailing blanks (so `awk` and `cut -c` both work).
#include <string>
#include <vector>

namespace hindsight::cli {

class text_table {
 public:
  enum class align { left, right };
  struct column {
    std::string title;
    align alignment = align::left;
  };

  explicit text_table(std::vector<column> columns) : columns_(std::move(columns)) {}
  // Cells are UTF-8 without control characters (escape them first); one per column.
  void add_row(std::vector<std::string> cells);
  std::string render() const;

 private:
  std::vector<column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace hindsight::cli
