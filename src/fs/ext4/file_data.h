// Reading a regular file's bytes from its FileData extents (body, then tail)
// in the DataSources, with SEEK_DATA/SEEK_HOLE so holes in the sources are
// skipped without being read.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "tree/data_sink.h"
#include "tree/tree.h"
#include "vmimage/result.h"

namespace vmimage::ext4 {

class FileDataReader {
 public:
  // Errors name the source files; callers add which tree file was read.
  static Result<FileDataReader> open(const tree::DataSources& sources, const tree::FileData& data);

  uint64_t size() const { return size_; }
  // The first offset >= pos that may hold non-zero bytes, or size() when only
  // holes follow. Sources without SEEK_DATA support report pos itself.
  Result<uint64_t> next_data(uint64_t pos) const;
  // Where the data region containing pos ends (a hole or the end of an extent).
  Result<uint64_t> data_end(uint64_t pos) const;
  // Reads exactly buf.size() bytes at pos; pos + buf.size() <= size().
  Status read(uint64_t pos, std::span<std::byte> buf) const;

 private:
  struct Segment {
    uint64_t start = 0;  // file offset where this extent begins
    tree::Extent extent;
  };
  // The segment holding file offset pos (pos < size_).
  const Segment& segment_at(uint64_t pos) const;
  Result<int64_t> seek(const Segment& seg, uint64_t pos, int whence) const;

  const tree::DataSources* sources_ = nullptr;
  Segment segments_[2];
  int segment_count_ = 0;
  uint64_t size_ = 0;
};

}  // namespace vmimage::ext4
