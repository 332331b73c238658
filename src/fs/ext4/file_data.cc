// FileData reading with hole skipping (see file_data.h).
#include "fs/ext4/file_data.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "util/file.h"

namespace vmimage::ext4 {
namespace {

// seek() results besides an offset.
constexpr int64_t kNone = -1;         // ENXIO: no data (or hole) after the offset
constexpr int64_t kUnsupported = -2;  // EINVAL: the source cannot report holes

}  // namespace

Result<FileDataReader> FileDataReader::open(const tree::DataSources& sources,
                                            const tree::FileData& data) {
  if (data.body.length + data.tail.length != data.size) {
    return Error(ErrorKind::kInternal, "file data extents cover " +
                                           std::to_string(data.body.length + data.tail.length) +
                                           " bytes, not its size " + std::to_string(data.size));
  }
  FileDataReader r;
  r.sources_ = &sources;
  r.size_ = data.size;
  uint64_t start = 0;
  for (const tree::Extent& e : {data.body, data.tail}) {
    if (e.length == 0) continue;
    if (e.source >= sources.size()) {
      return Error(ErrorKind::kInternal,
                   "file data refers to unknown source " + std::to_string(e.source));
    }
    r.segments_[r.segment_count_++] = Segment{start, e};
    start += e.length;
  }
  return r;
}

const FileDataReader::Segment& FileDataReader::segment_at(uint64_t pos) const {
  if (segment_count_ == 2 && pos >= segments_[1].start) return segments_[1];
  return segments_[0];
}

Result<int64_t> FileDataReader::seek(const Segment& seg, uint64_t pos, int whence) const {
  int fd = sources_->fd(seg.extent.source);
  off_t at = static_cast<off_t>(seg.extent.offset + (pos - seg.start));
  off_t r = ::lseek(fd, at, whence);
  if (r >= 0) return static_cast<int64_t>(r);
  if (errno == ENXIO) return kNone;
  if (errno == EINVAL) return kUnsupported;
  return sys_error(ErrorKind::kIo, "seeking in " + sources_->name(seg.extent.source));
}

Result<uint64_t> FileDataReader::next_data(uint64_t pos) const {
  while (pos < size_) {
    const Segment& seg = segment_at(pos);
    uint64_t seg_end = seg.start + seg.extent.length;
    VMI_TRY(int64_t found, seek(seg, pos, SEEK_DATA));
    if (found == kUnsupported) return pos;
    if (found >= 0 && static_cast<uint64_t>(found) < seg.extent.offset + seg.extent.length) {
      return seg.start + (static_cast<uint64_t>(found) - seg.extent.offset);
    }
    pos = seg_end;
  }
  return size_;
}

Result<uint64_t> FileDataReader::data_end(uint64_t pos) const {
  if (pos >= size_) return size_;
  const Segment& seg = segment_at(pos);
  uint64_t seg_end = seg.start + seg.extent.length;
  VMI_TRY(int64_t hole, seek(seg, pos, SEEK_HOLE));
  if (hole < 0) return seg_end;  // unsupported: all data; none: cannot happen inside data
  return std::min(seg_end, seg.start + (static_cast<uint64_t>(hole) - seg.extent.offset));
}

Status FileDataReader::read(uint64_t pos, std::span<std::byte> buf) const {
  while (!buf.empty()) {
    const Segment& seg = segment_at(pos);
    uint64_t in_seg = pos - seg.start;
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), seg.extent.length - in_seg));
    Status read = pread_exact(sources_->fd(seg.extent.source), buf.first(n),
                              seg.extent.offset + in_seg, sources_->name(seg.extent.source));
    if (!read) return read;
    buf = buf.subspan(n);
    pos += n;
  }
  return {};
}

}  // namespace vmimage::ext4
