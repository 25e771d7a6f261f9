#pragma once
// What the store's tests share: a scratch data directory, waiting for the writer
// thread, and a capture to store.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "store/capture.hpp"

namespace hindsight::store::testing {

// A fresh directory named after the running test, removed with everything in it.
struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
    path = std::filesystem::temp_directory_path() /
           ("hindsight-" + std::string(test->test_suite_name()) + "-" + test->name() + "-" + std::to_string(getpid()));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::filesystem::path database() const { return path / "captures.db"; }
};

// Polls `done` until it holds or five seconds pass; returns whether it held.
template <class Predicate>
bool eventually(Predicate done) {
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

inline std::int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

// Stamped now unless told otherwise: the writer's default retention deletes old captures.
inline capture failing_request(std::string method, std::string target, int status, std::int64_t time_us = now_us()) {
  capture c;
  c.time_us = time_us;
  c.client = "127.0.0.1";
  c.scheme = "https";
  c.host = "shop.example";
  c.method = std::move(method);
  c.target = std::move(target);
  c.request_headers = "Host: shop.example\r\n";
  c.status = status;
  c.reason = "Internal Server Error";
  c.duration_ms = 12.5;
  c.upstream_ms = 11;
  c.captured_because = "status";
  return c;
}

}  // namespace hindsight::store::testing
