#include "io/cancel.h"

namespace vmimage::io {

Error cancelled_error() { return Error(ErrorKind::kCancelled, "cancelled"); }

StopFlag::StopFlag(CancelFlag outer) : outer_(outer) {
  if (outer_ == nullptr) return;
  watcher_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!done_) {
      if (is_cancelled(outer_)) stop();
      done_changed_.wait_for(lock, std::chrono::milliseconds(20));
    }
  });
}

StopFlag::~StopFlag() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  done_changed_.notify_all();
  if (watcher_.joinable()) watcher_.join();
}

}  // namespace vmimage::io
