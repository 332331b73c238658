// Block allocation and extent tree writing (see extent_tree.h).
#include "fs/ext4/extent_tree.h"

#include <ext2fs/ext3_extents.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "fs/ext4/libext2fs.h"

namespace vmimage::ext4 {
namespace {

// On-disk layouts this file writes through libext2fs's structs, in host byte
// order: ext4 is little-endian, and so are the hosts vmimage targets.
static_assert(std::endian::native == std::endian::little);
static_assert(sizeof(ext3_extent_header) == 12);
static_assert(sizeof(ext3_extent) == 12);
static_assert(sizeof(ext3_extent_idx) == 12);

ext3_extent make_extent(uint64_t lblk, uint64_t pblk, uint64_t count) {
  ext3_extent e{};
  e.ee_block = static_cast<uint32_t>(lblk);
  e.ee_len = static_cast<uint16_t>(count);
  e.ee_start = static_cast<uint32_t>(pblk);
  e.ee_start_hi = static_cast<uint16_t>(pblk >> 32);
  return e;
}

uint64_t extent_pblk(const ext3_extent& e) {
  return (uint64_t{e.ee_start_hi} << 32) | e.ee_start;
}

ext3_extent_idx make_index(uint32_t lblk, uint64_t blk) {
  ext3_extent_idx ix{};
  ix.ei_block = lblk;
  ix.ei_leaf = static_cast<uint32_t>(blk);
  ix.ei_leaf_hi = static_cast<uint16_t>(blk >> 32);
  return ix;
}

void set_header(void* at, uint16_t entries, uint16_t max, uint16_t depth) {
  ext3_extent_header h{};
  h.eh_magic = EXT3_EXT_MAGIC;
  h.eh_entries = entries;
  h.eh_max = max;
  h.eh_depth = depth;
  std::memcpy(at, &h, sizeof h);
}

}  // namespace

Result<BlockRun> BlockAllocator::allocate(uint64_t want) {
  blk64_t start = 0;
  blk64_t len = 0;
  errcode_t code = ext2fs_new_range(fs_, 0, goal_, want, nullptr, &start, &len);
  if (code != 0) return ext2_error(code, "allocating " + std::to_string(want) + " ext4 blocks");
  BlockRun run{start, std::min<uint64_t>(len, want)};
  ext2fs_block_alloc_stats_range(fs_, run.start, static_cast<blk_t>(run.count), +1);
  goal_ = run.start + run.count;
  allocated_ += run.count;
  return run;
}

uint64_t extent_tree_blocks(uint64_t extents) {
  uint64_t total = 0;
  uint64_t level = extents;
  while (level > kExtentsInInode) {
    level = (level + kExtentsPerBlock - 1) / kExtentsPerBlock;
    total += level;
  }
  return total;
}

Status ExtentTreeBuilder::add(uint64_t lblk, uint64_t pblk, uint64_t count) {
  while (count > 0) {
    if (!pending_.empty()) {
      ext3_extent& last = pending_.back();
      uint64_t end = uint64_t{last.ee_block} + last.ee_len;
      if (end == lblk && extent_pblk(last) + last.ee_len == pblk && last.ee_len < kMaxExtentLen) {
        uint64_t grow = std::min<uint64_t>(count, kMaxExtentLen - last.ee_len);
        last.ee_len = static_cast<uint16_t>(last.ee_len + grow);
        lblk += grow, pblk += grow, count -= grow;
        continue;
      }
    }
    uint64_t take = std::min<uint64_t>(count, kMaxExtentLen);
    pending_.push_back(make_extent(lblk, pblk, take));
    lblk += take, pblk += take, count -= take;
    // Keep one entry back so later blocks can still merge into it.
    if (pending_.size() > kExtentsPerBlock) VMI_CHECK(flush_leaf(kExtentsPerBlock));
  }
  return {};
}

Status ExtentTreeBuilder::write_node(uint64_t blk, uint16_t depth, const void* entries,
                                     size_t count) {
  std::array<unsigned char, 4096> buf{};
  set_header(buf.data(), static_cast<uint16_t>(count), kExtentsPerBlock, depth);
  std::memcpy(buf.data() + sizeof(ext3_extent_header), entries, count * 12);
  auto* eh = reinterpret_cast<ext3_extent_header*>(buf.data());
  VMI_CHECK(
      ext2_check(ext2fs_extent_block_csum_set(fs_, ino_, eh), "checksumming an extent block"));
  VMI_CHECK(
      ext2_check(io_channel_write_blk64(fs_->io, blk, 1, buf.data()), "writing an extent block"));
  ++tree_blocks_;
  return {};
}

Status ExtentTreeBuilder::flush_leaf(size_t count) {
  VMI_TRY(BlockRun run, alloc_.allocate(1));
  VMI_CHECK(write_node(run.start, 0, pending_.data(), count));
  level_.push_back(make_index(pending_.front().ee_block, run.start));
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(count));
  return {};
}

Result<uint64_t> ExtentTreeBuilder::finish(ext2_inode_large& inode) {
  auto* root = reinterpret_cast<unsigned char*>(inode.i_block);
  std::memset(root, 0, sizeof inode.i_block);
  if (level_.empty() && pending_.size() <= kExtentsInInode) {
    set_header(root, static_cast<uint16_t>(pending_.size()), kExtentsInInode, 0);
    if (!pending_.empty()) std::memcpy(root + 12, pending_.data(), pending_.size() * 12);
    return tree_blocks_;
  }
  while (!pending_.empty())
    VMI_CHECK(flush_leaf(std::min<size_t>(pending_.size(), kExtentsPerBlock)));
  uint16_t depth = 1;
  while (level_.size() > kExtentsInInode) {
    std::vector<ext3_extent_idx> upper;
    for (size_t i = 0; i < level_.size(); i += kExtentsPerBlock) {
      size_t n = std::min<size_t>(kExtentsPerBlock, level_.size() - i);
      VMI_TRY(BlockRun run, alloc_.allocate(1));
      VMI_CHECK(write_node(run.start, depth, &level_[i], n));
      upper.push_back(make_index(level_[i].ei_block, run.start));
    }
    level_ = std::move(upper);
    ++depth;
  }
  set_header(root, static_cast<uint16_t>(level_.size()), kExtentsInInode, depth);
  std::memcpy(root + 12, level_.data(), level_.size() * 12);
  return tree_blocks_;
}

}  // namespace vmimage::ext4
