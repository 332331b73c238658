// Formatting an empty ext4 with libext2fs: the feature set, geometry and
// identity every vmimage ext4 shares (4 KiB blocks, 256-byte inodes, extents,
// flex_bg, 64bit, metadata_csum, dir_index, ...), plus a dry run that reports
// how much room a given geometry leaves for content.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "fs/ext4/libext2fs.h"
#include "vmimage/result.h"

namespace vmimage::ext4 {

constexpr uint32_t kBlockSize = 4096;
constexpr uint32_t kInodeSize = 256;
// Inodes 1..10 are reserved by ext4; the first ordinary inode is 11.
constexpr uint32_t kFirstIno = 11;
// One inode per 16 KiB of space beyond the content, as mke2fs does for ext4.
constexpr uint64_t kBytesPerInode = 16384;

struct FormatParams {
  uint64_t blocks = 0;  // requested size in blocks; the last group may be trimmed
  uint64_t inodes = 0;  // at least this many; rounded up to fill each group
  std::array<uint8_t, 16> uuid{};
  // With csum_seed the metadata checksums are seeded from checksum_uuid instead
  // of uuid (feature metadata_csum_seed), so the UUID can be chosen at the end.
  bool csum_seed = false;
  std::array<uint8_t, 16> checksum_uuid{};
  std::array<uint8_t, 16> hash_seed{};
  std::string label;  // at most 16 bytes
  int64_t timestamp = 0;
};

// Creates the filesystem on `path` (an existing file of at least blocks*4 KiB):
// superblock, group descriptors, bitmaps and inode tables allocated (the inode
// tables are left as the file's zeros and marked zeroed), reserved inodes 1..10
// marked in use. The root directory and everything else is up to the caller.
Result<FsHandle> format_fs(const std::string& path, const FormatParams& params);

// What format_fs would produce, computed without writing anything (all zero
// when the size cannot even hold the filesystem's own metadata).
struct Capacity {
  uint64_t blocks = 0;       // blocks_count after trimming
  uint64_t free_blocks = 0;  // blocks left after the filesystem's own metadata
  uint64_t inodes = 0;       // inodes_count after rounding
};
Result<Capacity> probe_capacity(uint64_t blocks, uint64_t inodes);

// The largest number of 4 KiB blocks the format supports here (2^32 - 1
// inodes and 48-bit block numbers are far away; this bounds --size sanity).
constexpr uint64_t kMaxBlocks = uint64_t{1} << 40;

}  // namespace vmimage::ext4
