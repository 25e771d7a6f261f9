#pragma once
// The data directory (--data): captures, secrets, sockets. Owner-only, since what it
// holds is as sensitive as the requests themselves.
#include <string>

namespace hindsight::cli {

// The directory from --data, else $HINDSIGHT_DATA, else ./.hindsight.
std::string default_data_dir();

// Creates `path` (and its parents) with mode 0700 if missing, checks that it is a
// writable directory, and returns its absolute path. Throws std::runtime_error with
// a message that says what to do, Platform.sh's read-only file system included.
std::string prepare_data_dir(const std::string& path);

}  // namespace hindsight::cli
