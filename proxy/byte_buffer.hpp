#pragma once
// A growable byte buffer with a readable window [begin, end): bytes are read from the
// socket at the end and consumed from the front. It starts small so that a thousand
// idle keep-alive connections cost little, and grows only as a message needs.
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>

namespace hindsight::proxy {

class byte_buffer {
 public:
  explicit byte_buffer(std::size_t initial_capacity = 0) { reserve(initial_capacity); }

  std::string_view data() const { return {buf_.get() + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  std::size_t capacity() const { return cap_; }

  // Views from data() stay valid across consume(); prepare() may move the bytes.
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  void clear() { begin_ = end_ = 0; }

  // Space to read into: at least `want` bytes unless the buffer is at `max_capacity`,
  // in which case whatever is left (possibly nothing).
  std::span<char> prepare(std::size_t want, std::size_t max_capacity) {
    if (cap_ - end_ < want && begin_ > 0) {
      std::memmove(buf_.get(), buf_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (cap_ - end_ < want && cap_ < max_capacity) {
      std::size_t grown = cap_ ? cap_ : 1024;
      while (grown - end_ < want && grown < max_capacity) grown *= 2;
      reserve(std::min(grown, max_capacity));
    }
    return {buf_.get() + end_, cap_ - end_};
  }
  void commit(std::size_t n) { end_ += n; }

  void append(std::string_view bytes) {
    auto space = prepare(bytes.size(), std::max(cap_, end_ + bytes.size()));
    std::memcpy(space.data(), bytes.data(), bytes.size());
    commit(bytes.size());
  }

  // Returns memory after a large message, keeping what is unread.
  void shrink_to(std::size_t capacity) {
    if (cap_ <= capacity || size() > capacity) return;
    auto smaller = std::make_unique<char[]>(capacity);
    std::memcpy(smaller.get(), buf_.get() + begin_, size());
    end_ = size();
    begin_ = 0;
    buf_ = std::move(smaller);
    cap_ = capacity;
  }

 private:
  void reserve(std::size_t capacity) {
    if (capacity <= cap_) return;
    // make_unique_for_overwrite: untouched pages are never committed, so a large
    // capacity costs address space, not memory, until it is used.
    auto bigger = std::make_unique_for_overwrite<char[]>(capacity);
    if (buf_) std::memcpy(bigger.get(), buf_.get() + begin_, size());
    end_ = size();
    begin_ = 0;
    buf_ = std::move(bigger);
    cap_ = capacity;
  }

  std::unique_ptr<char[]> buf_;
  std::size_t cap_ = 0, begin_ = 0, end_ = 0;
};

}  // namespace hindsight::proxy
