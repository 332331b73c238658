// Block allocation and extent trees for the ext4 writer. Blocks are handed out
// in ascending order from a moving goal (a fresh image fills front to back),
// and an inode's extents are streamed into leaf blocks as they fill, so memory
// stays proportional to the number of leaves, not of extents.
// Format: ext4 extent tree (header 0xF30A, 12-byte entries, checksummed tail).
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstdint>
#include <vector>

#include "vmimage/result.h"

namespace vmimage::ext4 {

struct BlockRun {
  uint64_t start = 0;
  uint64_t count = 0;
};

class BlockAllocator {
 public:
  explicit BlockAllocator(ext2_filsys fs) : fs_(fs) {}
  // Up to `want` (> 0) contiguous free blocks, at or after the goal when
  // possible, marked in use. Fails only when the filesystem is full.
  Result<BlockRun> allocate(uint64_t want);
  uint64_t allocated() const { return allocated_; }

 private:
  ext2_filsys fs_;
  uint64_t goal_ = 0;
  uint64_t allocated_ = 0;
};

// Extent geometry: entries fitting in the inode's i_block and in one block.
constexpr uint32_t kExtentsInInode = 4;
constexpr uint32_t kExtentsPerBlock = (4096 - 12) / 12;  // 340
constexpr uint32_t kMaxExtentLen = 32768;                // initialized extents

// Blocks an extent tree of `extents` entries needs outside the inode.
uint64_t extent_tree_blocks(uint64_t extents);

class ExtentTreeBuilder {
 public:
  ExtentTreeBuilder(ext2_filsys fs, ext2_ino_t ino, BlockAllocator& alloc)
      : fs_(fs), ino_(ino), alloc_(alloc) {}
  // Maps logical blocks [lblk, lblk+count) to physical [pblk, pblk+count).
  // Calls come in increasing, non-overlapping logical order.
  Status add(uint64_t lblk, uint64_t pblk, uint64_t count);
  // Writes the remaining leaves and the index levels and stores the root in
  // `inode`'s i_block. Returns how many tree blocks were written in total.
  // The inode must already be on disk: block checksums use its generation.
  Result<uint64_t> finish(ext2_inode_large& inode);

 private:
  Status flush_leaf(size_t count);
  Status write_node(uint64_t blk, uint16_t depth, const void* entries, size_t count);

  ext2_filsys fs_;
  ext2_ino_t ino_;
  BlockAllocator& alloc_;
  std::vector<ext3_extent> pending_;    // leaf entries not yet written
  std::vector<ext3_extent_idx> level_;  // one index entry per written node
  uint64_t tree_blocks_ = 0;
};

}  // namespace vmimage::ext4
