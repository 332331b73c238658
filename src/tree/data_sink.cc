#include "tree/data_sink.h"

#include <unistd.h>

#include "util/file.h"
#include "util/writeback.h"

namespace vmimage::tree {

uint32_t DataSources::add(int fd, std::string name) {
  entries_.push_back(Entry{fd, std::move(name)});
  return static_cast<uint32_t>(entries_.size() - 1);
}

// Files follow each other without gaps, and every all-zero spool block stays
// a hole: a file of zeros (a gzip bomb) costs no disk here but for the partial
// blocks at its ends. (Aligning each file's start instead cost 20% more time
// on a layer of 100,000 small files.)
Status SpoolSink::begin(uint64_t size) {
  start_ = end_;
  size_ = size;
  return {};
}

Status SpoolSink::write(uint64_t offset, std::span<const std::byte> data) {
  if (offset + data.size() > size_) {
    return Error(ErrorKind::kExtract,
                 "file data runs past its declared size of " + std::to_string(size_) + " bytes");
  }
  return pwrite_skipping_zero_blocks(fd_, data, start_ + offset, kBlock, name_);
}

Result<FileData> SpoolSink::finish() {
  end_ = start_ + size_;
  // A trailing hole leaves the spool short; extend it so reads see zeros.
  if (::ftruncate(fd_, static_cast<off_t>(end_)) != 0) {
    return sys_error(ErrorKind::kIo, "extending " + name_);
  }
  FileData data;
  data.size = size_;
  data.body = Extent{source_, start_, size_};
  data.tail = Extent{source_, start_ + size_, 0};
  return data;
}

}  // namespace vmimage::tree
