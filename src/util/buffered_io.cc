#include "util/buffered_io.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/file.h"

namespace vmimage {
namespace {
constexpr size_t kDirectWrite = size_t{64} << 10;
}  // namespace

Status WindowReader::read(int fd, uint64_t offset, std::span<std::byte> out,
                          const std::string& what) {
  if (out.empty()) return {};
  if (out.size() > window_ / 2) return pread_exact(fd, out, offset, what);
  bool hit = fd == fd_ && offset >= start_ && offset - start_ + out.size() <= buf_.size();
  if (!hit) {
    fd_ = -1;
    start_ = offset - offset % 4096;
    buf_.resize(window_);
    ssize_t n;
    do {
      n = ::pread(fd, buf_.data(), buf_.size(), static_cast<off_t>(start_));
    } while (n < 0 && errno == EINTR);
    buf_.resize(n < 0 ? 0 : static_cast<size_t>(n));
    fd_ = fd;
    // A read error or a request past the end: the direct read reports it.
    if (n < 0 || offset - start_ + out.size() > buf_.size()) {
      return pread_exact(fd, out, offset, what);
    }
  }
  std::memcpy(out.data(), buf_.data() + (offset - start_), out.size());
  return {};
}

Status CoalescingWriter::write(uint64_t offset, std::span<const std::byte> data) {
  if (data.empty()) return {};
  // Large writes go out as they are: copying them into the buffer would cost
  // more than the syscall it saves.
  bool large = data.size() >= kDirectWrite || data.size() >= limit_;
  if (!buf_.empty() && (large || offset != start_ + buf_.size())) VMI_CHECK(flush());
  if (large) return write_now(offset, data);
  if (buf_.empty()) start_ = offset;
  buf_.insert(buf_.end(), data.begin(), data.end());
  if (buf_.size() >= limit_) return flush();
  return {};
}

Status CoalescingWriter::flush() {
  if (buf_.empty()) return {};
  Status s = write_now(start_, buf_);
  buf_.clear();
  return s;
}

Status CoalescingWriter::release() {
  Status s = flush();
  std::vector<std::byte>().swap(buf_);
  return s;
}

Status CoalescingWriter::write_now(uint64_t offset, std::span<const std::byte> data) {
  if (zero_block_ > 0) {
    VMI_CHECK(pwrite_skipping_zero_blocks(fd_, data, offset, zero_block_, what_));
  } else {
    VMI_CHECK(pwrite_all(fd_, data, offset, what_));
  }
  if (writeback_) writeback_->wrote(offset, data.size());
  return {};
}

}  // namespace vmimage
