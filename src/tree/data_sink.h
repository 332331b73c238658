// Where a regular file's bytes go while the input streams past, and the table of
// open files that FileData extents point into.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "tree/tree.h"
#include "util/fd.h"
#include "vmimage/result.h"

namespace vmimage::tree {

// Files that FileData extents refer to, by index. Borrowed descriptors stay open
// at least as long as the table is used.
class DataSources {
 public:
  uint32_t add(int fd, std::string name);
  int fd(uint32_t source) const { return entries_[source].fd; }
  const std::string& name(uint32_t source) const { return entries_[source].name; }
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    int fd;
    std::string name;
  };
  std::vector<Entry> entries_;
};

// Receives one file at a time: begin(size), write() chunks at increasing offsets
// (a gap between chunks is a hole and reads back as zeros), finish().
class FileDataSink {
 public:
  virtual ~FileDataSink() = default;
  virtual Status begin(uint64_t size) = 0;
  virtual Status write(uint64_t offset, std::span<const std::byte> data) = 0;
  virtual Result<FileData> finish() = 0;
};

// Appends every file, body and tail together, to one scratch file; its
// all-zero 4 KiB blocks stay holes.
class SpoolSink : public FileDataSink {
 public:
  // `spool_fd` is registered in `sources` by the caller as `source`.
  SpoolSink(int spool_fd, uint32_t source, std::string name)
      : fd_(spool_fd), source_(source), name_(std::move(name)) {}
  Status begin(uint64_t size) override;
  Status write(uint64_t offset, std::span<const std::byte> data) override;
  Result<FileData> finish() override;

 private:
  int fd_;
  uint32_t source_;
  static constexpr uint64_t kBlock = 4096;
  std::string name_;
  uint64_t end_ = 0;    // spool bytes used so far
  uint64_t start_ = 0;  // where the current file starts
  uint64_t size_ = 0;
};

}  // namespace vmimage::tree
