// Output helpers for large files: writes that leave all-zero blocks as holes, and
// early writeback, so that the final fsync finds little left to flush and the disk
// works while the CPU decompresses.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "util/result.h"

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
class WritebackStarter {
 public:
  explicit WritebackStarter(int fd, uint64_t step = uint64_t{16} << 20) : fd_(fd), step_(step) {}
  void wrote(uint64_t offset, uint64_t length);

 private:
  int fd_;
  uint64_t step_;
  uint64_t pending_ = 0;
  uint64_t lo_ = UINT64_MAX;
  uint64_t hi_ = 0;
};

}  // namespace vmimage
