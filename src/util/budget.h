// A shared allowance of some count (entries, bytes) that several threads draw
// from, e.g. the total entries of an image whose layers convert in parallel.
#pragma once

#include <atomic>
#include <cstdint>

namespace vmimage {

class Budget {
 public:
  explicit Budget(uint64_t limit) : limit_(limit) {}
  Budget(const Budget&) = delete;
  Budget& operator=(const Budget&) = delete;

  // Takes `n`; false (taking nothing) when that would pass the limit.
  bool take(uint64_t n) {
    uint64_t used = used_.load(std::memory_order_relaxed);
    do {
      if (n > limit_ || used > limit_ - n) return false;
    } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
    return true;
  }
  uint64_t limit() const { return limit_; }
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }

 private:
  uint64_t limit_;
  std::atomic<uint64_t> used_{0};
};

}  // namespace vmimage
