#include "util/writeback.h"

#include <fcntl.h>

#include <algorithm>
#include <cstring>

#include "util/file.h"

namespace vmimage {

bool all_zero(std::span<const std::byte> data) {
  constexpr size_t kHead = 16;
  if (data.size() <= kHead) {
    return std::all_of(data.begin(), data.end(), [](std::byte b) { return b == std::byte{0}; });
  }
  // The head is zero, and each byte equals the one kHead before it: all zero.
  return all_zero(data.first(kHead)) &&
         std::memcmp(data.data(), data.data() + kHead, data.size() - kHead) == 0;
}

Status pwrite_skipping_zero_blocks(int fd, std::span<const std::byte> data, uint64_t offset,
                                   uint32_t block, const std::string& what) {
  // [run_start, pos) is data still to write; zero blocks end a run.
  size_t run_start = 0;
  size_t pos = static_cast<size_t>((block - offset % block) % block);  // first aligned block
  while (pos + block <= data.size()) {
    if (!all_zero(data.subspan(pos, block))) {
      pos += block;
      continue;
    }
    VMI_CHECK(pwrite_all(fd, data.subspan(run_start, pos - run_start), offset + run_start, what));
    pos += block;
    run_start = pos;
  }
  return pwrite_all(fd, data.subspan(run_start), offset + run_start, what);
}

void WritebackStarter::wrote(uint64_t offset, uint64_t length) {
  if (length == 0) return;
  lo_ = std::min(lo_, offset);
  hi_ = std::max(hi_, offset + length);
  pending_ += length;
  total_ += length;
  if (pending_ < step_) return;
  ::sync_file_range(fd_, static_cast<off_t>(lo_), static_cast<off_t>(hi_ - lo_),
                    SYNC_FILE_RANGE_WRITE);
  if (cache_ == PageCache::kDropBehind && total_ > keep_first_) {
    started_.push_back(Range{lo_, hi_});
    if (started_.size() > kStepsKept) {
      drop(started_.front());
      started_.pop_front();
    }
  }
  pending_ = 0;
  lo_ = UINT64_MAX;
  hi_ = 0;
}

// DONTNEED drops only clean pages: waiting for the writeback first makes it
// drop the range; a page written again since stays (dirty) and is kept.
void WritebackStarter::drop(Range r) {
  auto off = static_cast<off_t>(r.lo);
  auto len = static_cast<off_t>(r.hi - r.lo);
  if (::sync_file_range(fd_, off, len,
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                            SYNC_FILE_RANGE_WAIT_AFTER) != 0) {
    return;
  }
  ::posix_fadvise(fd_, off, len, POSIX_FADV_DONTNEED);
}

}  // namespace vmimage
