#pragma once
// Durations as users write them on the command line: 10 (seconds), 10s, 500ms, 2m, 1h.
#include <chrono>
#include <string_view>

namespace hindsight::cli {

// Throws std::invalid_argument with a message that names the input and the forms.
std::chrono::milliseconds parse_duration(std::string_view text);

}  // namespace hindsight::cli
