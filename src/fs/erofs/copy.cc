// RangeCopier: hole-preserving ranged copies (copy_file_range with a pread/pwrite
// fallback for filesystems or kernels that refuse it).
#include "fs/erofs/copy.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <span>

#include "util/file.h"

namespace vmimage::erofs {
namespace {

constexpr size_t kBufferSize = 1 << 20;
// Ranges shorter than this are copied without looking for holes: the two lseeks
// would cost more than the zeros they could save.
constexpr uint64_t kHoleProbeMin = 1 << 20;

}  // namespace

Result<uint64_t> RangeCopier::copy(int src_fd, uint64_t src_offset, const std::string& src_name,
                                   int dst_fd, uint64_t dst_offset, const std::string& dst_name,
                                   uint64_t length) {
  if (length < kHoleProbeMin) {
    VMI_CHECK(copy_data(src_fd, src_offset, src_name, dst_fd, dst_offset, dst_name, length));
    return length;
  }
  uint64_t end = src_offset + length;
  uint64_t pos = src_offset;
  uint64_t moved = 0;
  while (pos < end) {
    auto [start, stop] = next_data_segment(src_fd, pos, end);
    if (start >= end) break;
    VMI_CHECK(copy_data(src_fd, start, src_name, dst_fd, dst_offset + (start - src_offset),
                        dst_name, stop - start));
    moved += stop - start;
    pos = stop;
  }
  return moved;
}

Status RangeCopier::copy_data(int src_fd, uint64_t src_offset, const std::string& src_name,
                              int dst_fd, uint64_t dst_offset, const std::string& dst_name,
                              uint64_t length) {
  while (length > 0 && use_copy_file_range_) {
    loff_t in = static_cast<loff_t>(src_offset);
    loff_t out = static_cast<loff_t>(dst_offset);
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(length, 1ull << 30));
    ssize_t n = ::copy_file_range(src_fd, &in, dst_fd, &out, chunk, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP ||
          errno == EBADF) {
        use_copy_file_range_ = false;
        break;
      }
      return sys_error(ErrorKind::kIo, "copying " + src_name + " at offset " +
                                           std::to_string(src_offset) + " to " + dst_name);
    }
    if (n == 0) {
      return Error(ErrorKind::kIo, "copying " + src_name + ": unexpected end of file at offset " +
                                       std::to_string(src_offset));
    }
    src_offset += static_cast<uint64_t>(n);
    dst_offset += static_cast<uint64_t>(n);
    length -= static_cast<uint64_t>(n);
  }
  if (length == 0) return {};
  return copy_buffered(src_fd, src_offset, src_name, dst_fd, dst_offset, dst_name, length);
}

Status RangeCopier::copy_buffered(int src_fd, uint64_t src_offset, const std::string& src_name,
                                  int dst_fd, uint64_t dst_offset, const std::string& dst_name,
                                  uint64_t length) {
  if (buffer_.empty()) buffer_.resize(kBufferSize);
  while (length > 0) {
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(length, buffer_.size()));
    std::span<std::byte> buf(buffer_.data(), chunk);
    VMI_CHECK(pread_exact(src_fd, buf, src_offset, src_name));
    VMI_CHECK(pwrite_all(dst_fd, buf, dst_offset, dst_name));
    src_offset += chunk;
    dst_offset += chunk;
    length -= chunk;
  }
  return {};
}

}  // namespace vmimage::erofs
