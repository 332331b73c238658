// Copies byte ranges between files without moving holes: only the source's data
// segments (SEEK_DATA/SEEK_HOLE) are copied, with copy_file_range where the kernel
// allows it and pread/pwrite otherwise. The destination range must read as zeros.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vmimage/result.h"

namespace vmimage::erofs {

class RangeCopier {
 public:
  // Copies `length` bytes from src_fd at src_offset to dst_fd at dst_offset.
  // Returns the bytes actually moved (holes are skipped in ranges of 1 MiB or more).
  Result<uint64_t> copy(int src_fd, uint64_t src_offset, const std::string& src_name, int dst_fd,
                        uint64_t dst_offset, const std::string& dst_name, uint64_t length);

 private:
  Status copy_data(int src_fd, uint64_t src_offset, const std::string& src_name, int dst_fd,
                   uint64_t dst_offset, const std::string& dst_name, uint64_t length);
  Status copy_buffered(int src_fd, uint64_t src_offset, const std::string& src_name, int dst_fd,
                       uint64_t dst_offset, const std::string& dst_name, uint64_t length);

  bool use_copy_file_range_ = true;
  std::vector<std::byte> buffer_;
};

}  // namespace vmimage::erofs
