// Cancellation inside the pipeline: a raw flag (CancelToken::flag()) checked at
// each read of a stream, and the error every check returns.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <memory>

#include "io/reader.h"

namespace vmimage::io {

inline bool is_cancelled(CancelFlag flag) {
  return flag != nullptr && flag->load(std::memory_order_relaxed);
}
Error cancelled_error();
// kCancelled when the flag is set.
inline Status check_cancel(CancelFlag flag) {
  if (is_cancelled(flag)) return cancelled_error();
  return {};
}

// A flag for sibling tasks: set by stop() (one of them failed: the others
// need not go on), or when `outer` is set (watched every 20 ms by a thread of
// its own while this lives).
class StopFlag {
 public:
  explicit StopFlag(CancelFlag outer);
  ~StopFlag();
  StopFlag(const StopFlag&) = delete;
  StopFlag& operator=(const StopFlag&) = delete;

  CancelFlag flag() const { return &stop_; }
  void stop() { stop_.store(true, std::memory_order_relaxed); }

 private:
  std::atomic<bool> stop_{false};
  CancelFlag outer_;
  std::mutex mu_;
  std::condition_variable done_changed_;
  bool done_ = false;
  std::thread watcher_;
};

// Passes reads through until the flag is set, then fails them.
class CancellableReader : public Reader {
 public:
  CancellableReader(Reader& inner, CancelFlag flag) : inner_(inner), flag_(flag) {}
  Result<size_t> read(std::span<std::byte> buf) override {
    VMI_CHECK(check_cancel(flag_));
    return inner_.read(buf);
  }
  Result<std::span<const std::byte>> read_view(std::span<std::byte> scratch) override {
    VMI_CHECK(check_cancel(flag_));
    return inner_.read_view(scratch);
  }

 private:
  Reader& inner_;
  CancelFlag flag_;
};

}  // namespace vmimage::io
