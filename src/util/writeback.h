// Output helpers for large files: writes that leave all-zero blocks as holes, and
// early writeback, so that the final fsync finds little left to flush and the disk
// works while the CPU decompresses.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <string>

#include "vmimage/result.h"

namespace vmimage {

bool all_zero(std::span<const std::byte> data);

// pwrite_all, except that every whole `block`-aligned (file offset) block of zeros
// is skipped. In a range never written before, skipped blocks stay holes that read
// back as zeros, so the file's content is the same and its allocation smaller.
Status pwrite_skipping_zero_blocks(int fd, std::span<const std::byte> data, uint64_t offset,
                                   uint32_t block, const std::string& what);

// Starts asynchronous writeback (sync_file_range SYNC_FILE_RANGE_WRITE) of the
// range written since the last start, once `step` bytes have been written. Advisory:
// filesystems that refuse it are left to the final fsync.
//
// With PageCache::kDropBehind, once keep_first bytes are written, it also waits
// for the range started kStepsKept steps before and drops it from the page
// cache (POSIX_FADV_DONTNEED): a large output keeps its first keep_first bytes
// and about kStepsKept + 1 steps in memory, not all of it. For outputs this
// process does not read back. On virtual machines whose host reclaims free
// guest memory, a page that was not in use recently costs a host fault when a
// write takes it: here, writing 1 GiB took 0.5-2.7 s more system time on such
// pages than on recycled ones (docs/benchmarks.md).
enum class PageCache { kKeep, kDropBehind };

class WritebackStarter {
 public:
  static constexpr uint64_t kDefaultStep = uint64_t{16} << 20;
  // Steps started and not yet waited for: a longer lag waits less often for the
  // disk (with 2, `vmimage mkfs` of a 205 MB layer took 20 ms longer).
  static constexpr size_t kStepsKept = 4;
  // Bytes written before dropping starts: smaller outputs stay cached, as
  // waiting for their writeback cost more than their pages (the 258 MB image
  // of 100k files: 0.80 s against 0.72 s when dropped from the start).
  static constexpr uint64_t kDefaultKeepFirst = uint64_t{256} << 20;
  explicit WritebackStarter(int fd, PageCache cache = PageCache::kKeep,
                            uint64_t step = kDefaultStep,
                            uint64_t keep_first = kDefaultKeepFirst)
      : fd_(fd), cache_(cache), step_(step), keep_first_(keep_first) {}
  void wrote(uint64_t offset, uint64_t length);

 private:
  struct Range {
    uint64_t lo;
    uint64_t hi;
  };
  void drop(Range r);

  int fd_;
  PageCache cache_;
  uint64_t step_;
  uint64_t keep_first_;
  uint64_t total_ = 0;
  uint64_t pending_ = 0;
  uint64_t lo_ = UINT64_MAX;
  uint64_t hi_ = 0;
  std::deque<Range> started_;
};

}  // namespace vmimage
