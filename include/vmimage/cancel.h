// Cancelling a build, an import or a conversion from another thread or a
// signal handler (the model's context.Context). The work stops at its next
// check (a read, a request, a step), fails with ErrorKind::kCancelled and
// leaves nothing behind: temporary files are removed, the store is unchanged.
#pragma once

#include <atomic>
#include <memory>

namespace vmimage {

class CancelToken {
 public:
  CancelToken() : flag_(std::make_shared<std::atomic<bool>>(false)) {}
  // Async-signal-safe: one atomic store.
  void cancel() const noexcept { flag_->store(true, std::memory_order_relaxed); }
  bool cancelled() const noexcept { return flag_->load(std::memory_order_relaxed); }
  // The flag itself, for code that polls it (valid while any copy of the token lives).
  const std::atomic<bool>* flag() const noexcept { return flag_.get(); }

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

}  // namespace vmimage
