// Fewer syscalls for many small positioned reads and writes: a read window that
// serves nearby small reads (inode records, inline tails) from one pread, and a
// writer that joins writes continuing one another (file bodies and tails laid
// end to end) into one pwrite per megabyte.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "vmimage/result.h"
#include "util/writeback.h"

namespace vmimage {

// For files that do not change while it is used.
class WindowReader {
 public:
  explicit WindowReader(size_t window = size_t{64} << 10) : window_(window) {}
  // Exactly out.size() bytes at `offset` of `fd`; `what` names the file in errors.
  Status read(int fd, uint64_t offset, std::span<std::byte> out, const std::string& what);

 private:
  size_t window_;
  int fd_ = -1;
  uint64_t start_ = 0;
  std::vector<std::byte> buf_;  // bytes [start_, start_ + buf_.size()) of fd_
};

class CoalescingWriter {
 public:
  // With zero_block > 0, whole aligned blocks of zeros are left as holes (the
  // file's range must never have been written). `writeback` may be null.
  CoalescingWriter(int fd, std::string what, uint32_t zero_block, WritebackStarter* writeback,
                   size_t limit = size_t{1} << 20)
      : fd_(fd), what_(std::move(what)), zero_block_(zero_block), writeback_(writeback),
        limit_(limit) {}
  Status write(uint64_t offset, std::span<const std::byte> data);
  Status flush();
  // flush(), then frees the buffer's memory (it grows again on the next write).
  Status release();

 private:
  Status write_now(uint64_t offset, std::span<const std::byte> data);

  int fd_;
  std::string what_;
  uint32_t zero_block_;
  WritebackStarter* writeback_;
  size_t limit_;
  uint64_t start_ = 0;  // file offset of buf_[0]
  std::vector<std::byte> buf_;
};

}  // namespace vmimage
