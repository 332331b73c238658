// Reads uncompressed EROFS images (FLAT_PLAIN / FLAT_INLINE inodes, compact and
// extended, inline and shared xattrs) back into a tree::Tree whose file data points
// into the image, so a squash can copy from it. Everything read is bounds-checked:
// a corrupt or truncated image gives an Error, never a crash or a wild read.
#pragma once

#include <array>
#include <optional>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "fs/erofs/dir.h"
#include "tree/tree.h"
#include "util/buffered_io.h"
#include "vmimage/result.h"

namespace vmimage::erofs {

struct SuperInfo {
  uint32_t block_size = 0;
  uint32_t feature_compat = 0;
  uint32_t feature_incompat = 0;
  uint64_t root_nid = 0;
  uint64_t inos = 0;
  int64_t build_time = 0;
  uint32_t build_time_nsec = 0;
  uint32_t blocks = 0;
  uint32_t meta_blkaddr = 0;
  uint32_t xattr_blkaddr = 0;
  std::array<uint8_t, 16> uuid{};
  std::string volume_name;
};

struct InodeInfo {
  uint64_t nid = 0;
  uint64_t offset = 0;  // absolute byte offset of the inode in the image
  bool extended = false;
  uint8_t layout = 0;
  tree::FileType type = tree::FileType::kRegular;
  uint32_t mode = 0;  // permission bits (07777)
  uint64_t size = 0;
  uint32_t raw_blkaddr = 0;
  uint32_t ino = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 0;
  int64_t mtime_sec = 0;
  uint32_t mtime_nsec = 0;
  uint32_t rdev_major = 0;
  uint32_t rdev_minor = 0;
  uint32_t xattr_size = 0;
  uint64_t body_length = 0;    // content bytes in blocks from raw_blkaddr
  uint64_t inline_offset = 0;  // absolute offset of the inline tail
  uint32_t inline_length = 0;
};

class ImageReader {
 public:
  // Reads and validates the superblock (magic, block size, checksum, features).
  // With `end`, the image is the file's first `end` bytes: nothing it holds may
  // lie past them (a blob whose dm-verity tree starts there).
  static Result<ImageReader> open(int fd, std::string name,
                                  std::optional<uint64_t> end = std::nullopt);

  const SuperInfo& super() const { return super_; }
  Result<InodeInfo> inode(uint64_t nid) const;
  Result<std::vector<tree::Xattr>> xattrs(const InodeInfo& info) const;
  // Entries in on-disk order, "." and ".." included.
  Result<std::vector<DirEntry>> read_dir(const InodeInfo& info) const;
  // Reads content bytes [offset, offset + out.size()) of a file, directory or symlink.
  Status read(const InodeInfo& info, uint64_t offset, std::span<std::byte> out) const;

 private:
  ImageReader(int fd, std::string name, uint64_t file_size)
      : fd_(fd), name_(std::move(name)), file_size_(file_size) {}
  Status read_at(uint64_t offset, std::span<std::byte> out, const char* what) const;
  Status check_data(InodeInfo& info) const;
  Result<tree::Xattr> shared_xattr(uint32_t id) const;

  int fd_;
  std::string name_;
  uint64_t file_size_;
  SuperInfo super_;
  mutable WindowReader window_;  // inode records and directory blocks lie close together
};

// The whole image as a tree (hardlinks: one InodeId per nid). Regular files'
// FileData extents point into the image as `source_id` (which the caller registers
// for `fd` in the DataSources that will copy from it): the body at raw_blkaddr,
// the tail at its inline position.
// `end` as for ImageReader::open.
Result<tree::Tree> read_image(int fd, uint32_t source_id, const std::string& name,
                              std::optional<uint64_t> end = std::nullopt);

}  // namespace vmimage::erofs
