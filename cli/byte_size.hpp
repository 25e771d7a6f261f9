#pragma once
// Sizes as users write them on the command line: 1048576, 64KiB, 1MiB, 1GiB, 500MB, 10k.
#include <cstdint>
#include <string>
#include <string_view>

namespace hindsight::cli {

// Binary (KiB, MiB, GiB, and k/K/M/G as nginx reads them) or decimal (KB, MB, GB)
// multiples. Throws std::invalid_argument naming the input and the forms.
std::uint64_t parse_byte_size(std::string_view text);
// "1 GiB", "64 KiB", "1536 B": the largest binary unit that divides evenly.
std::string byte_size_text(std::uint64_t bytes);

}  // namespace hindsight::cli
