// Plans an EROFS image before any metadata byte is written: inode order and nids,
// compact or extended inodes, data layouts (FLAT_PLAIN / FLAT_INLINE), which file
// bodies stay where sink() put them and which get copied, and the block map.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tree/data_sink.h"
#include "tree/tree.h"
#include "vmimage/result.h"

namespace vmimage::erofs {

struct PlanInput {
  uint32_t block_size = 4096;
  uint64_t first_data_block = 1;  // after the superblock
  uint64_t stream_end_block = 1;  // blocks [first_data_block, stream_end_block) came from sink()
  const tree::DataSources* sources = nullptr;
  std::vector<uint64_t> source_sizes;  // readable bytes per source, for bounds checks
};

struct InodePlan {
  tree::InodeId id = 0;
  uint64_t nid = 0;
  uint64_t meta_offset = 0;  // byte offset of the record in the metadata area
  uint32_t ino = 0;
  uint32_t nlink = 0;
  bool extended = false;
  uint8_t layout = 0;         // kLayoutFlatPlain or kLayoutFlatInline
  uint64_t size = 0;          // i_size
  uint64_t start_block = 0;   // raw_blkaddr
  uint64_t blocks = 0;        // data blocks holding the first blocks * block_size bytes
  bool write_blocks = false;  // finish() writes those blocks (else they are in place)
  uint32_t xattr_size = 0;
  uint32_t inline_len = 0;  // tail bytes packed after the xattrs
  uint32_t rdev = 0;

  uint32_t core_size() const { return extended ? 64 : 32; }
  uint32_t record_size() const { return core_size() + xattr_size + inline_len; }
};

struct Plan {
  std::vector<InodePlan> inodes;            // in nid order; inodes[0] is the root
  std::vector<uint32_t> index_of;           // InodeId -> index in inodes, UINT32_MAX if unreachable
  std::vector<tree::InodeId> parent;        // InodeId -> the directory that first names it
  std::vector<const std::string*> name_of;  // InodeId -> that name
  int64_t build_time = 0;
  uint32_t build_time_nsec = 0;
  uint64_t meta_blkaddr = 0;
  uint64_t meta_bytes = 0;
  uint64_t total_blocks = 0;
  uint64_t relocated_files = 0;
};

Result<Plan> make_plan(const tree::Tree& tree, const PlanInput& input);

// "/a/b" for error messages.
std::string path_of(const Plan& plan, const tree::Tree& tree, tree::InodeId id);

// Policy: a tail of at most this many bytes is packed inline after its inode
// (if it fits in the inode's block); larger tails get a data block of their own.
inline uint32_t max_inline_tail(uint32_t block_size) {
  return block_size / 2;
}

}  // namespace vmimage::erofs
