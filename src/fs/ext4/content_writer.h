// Fills a freshly formatted ext4 with a planned tree: one pass over the
// inodes in plan order, each written with its data, directory blocks or
// symlink target, then its xattrs. File data is streamed through a bounded
// buffer; all-zero blocks (and source holes) become holes.
#pragma once

#include <ext2fs/ext2fs.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fs/ext4/extent_tree.h"
#include "fs/ext4/plan.h"
#include "fs/ext4/writer.h"
#include "io/checksum.h"
#include "tree/data_sink.h"
#include "tree/tree.h"
#include "vmimage/result.h"
#include "util/writeback.h"

namespace vmimage::ext4 {

class ContentWriter {
 public:
  // `writeback` (may be null) is told of every file data run written.
  ContentWriter(ext2_filsys fs, const tree::Tree& tree, const tree::DataSources& sources,
              const TreePlan& plan, const Ext4Options& options, WritebackStarter* writeback);

  // Writes every inode of the plan (and lost+found when planned).
  Status write_all();
  // SHA-256 of all file data written, block by block (raw bytes); only
  // computed when the options give no UUID (it feeds the derived one).
  std::string content_digest() { return content_hash_.finish_raw(); }
  const Ext4Stats& stats() const { return stats_; }

 private:
  // Errors name the inode's path.
  Status write_node(tree::InodeId id);
  Status write_inode_and_data(tree::InodeId id);
  Status write_regular(ext2_ino_t ino, ext2_inode_large& inode, const tree::Inode& node);
  // Writes the non-zero blocks among the first `count` of buffer_ (file
  // blocks from lblk on); returns how many were written.
  Result<uint64_t> write_buffer(uint64_t lblk, uint64_t count, ExtentTreeBuilder& extents);
  Status write_data_run(uint64_t lblk, const unsigned char* data, uint64_t count,
                        ExtentTreeBuilder& extents);
  Status write_directory(ext2_ino_t ino, ext2_inode_large& inode, tree::InodeId id);
  Status write_symlink_block(ext2_ino_t ino, ext2_inode_large& inode, const std::string& target);
  Status write_lost_found();
  Status write_lost_found_dir();
  // Allocates `count` blocks and passes each contiguous run to `fill`.
  template <typename Fill>
  Status allocate_runs(uint64_t count, ExtentTreeBuilder& extents, Fill fill);
  Status finish_blocks(ext2_ino_t ino, ext2_inode_large& inode, ExtentTreeBuilder& extents,
                       uint64_t blocks);

  ext2_filsys fs_;
  const tree::Tree& tree_;
  const tree::DataSources& sources_;
  const TreePlan& plan_;
  const Ext4Options& options_;
  WritebackStarter* writeback_;
  BlockAllocator alloc_;
  bool hash_content_;
  io::Xxh3Hash content_hash_;  // file contents, for the UUID: fast, not secure
  std::vector<unsigned char> buffer_;  // file data staging, kChunkBytes
  Ext4Stats stats_;
};

}  // namespace vmimage::ext4
