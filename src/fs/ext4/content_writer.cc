// Writing a planned tree into a formatted ext4 (see content_writer.h).
#include "fs/ext4/content_writer.h"

#include <algorithm>
#include <array>
#include <cstring>

#include "fs/ext4/dir_layout.h"
#include "fs/ext4/file_data.h"
#include "fs/ext4/format.h"
#include "fs/ext4/inode.h"
#include "fs/ext4/libext2fs.h"

namespace vmimage::ext4 {
namespace {

constexpr size_t kChunkBytes = size_t{1} << 20;  // file data is staged 1 MiB at a time

bool all_zero(const unsigned char* block) {
  static const std::array<unsigned char, kBlockSize> kZero{};
  return std::memcmp(block, kZero.data(), kBlockSize) == 0;
}

void hash_u64(io::Xxh3Hash& hash, uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
  hash.update(std::string_view(reinterpret_cast<const char*>(b), 8));
}

}  // namespace

ContentWriter::ContentWriter(ext2_filsys fs, const tree::Tree& tree, const tree::DataSources& sources,
                         const TreePlan& plan, const Ext4Options& options,
                         WritebackStarter* writeback)
    : fs_(fs),
      tree_(tree),
      sources_(sources),
      plan_(plan),
      options_(options),
      writeback_(writeback),
      alloc_(fs),
      hash_content_(!options.uuid.has_value()),
      buffer_(kChunkBytes) {}

Status ContentWriter::write_all() {
  for (size_t i = 0; i < plan_.order.size(); ++i) {
    VMI_CHECK(write_node(plan_.order[i]));
    // lost+found right after the root, next to it on disk as mke2fs places it.
    if (i == 0 && plan_.lost_found) VMI_CHECK(write_lost_found());
  }
  return {};
}

Status ContentWriter::write_node(tree::InodeId id) {
  Status written = write_inode_and_data(id);
  // The path is built only for the message: most inodes never need it.
  if (!written) return std::move(written).error().context(path_of(tree_, plan_, id));
  return {};
}

Status ContentWriter::write_inode_and_data(tree::InodeId id) {
  const tree::Inode& node = tree_.inode(id);
  ext2_ino_t ino = plan_.ino[id];
  if (id != tree_.root()) ext2fs_inode_alloc_stats2(fs_, ino, +1, node.is_dir() ? 1 : 0);
  ext2_inode_large inode = make_inode(node, plan_.links[id]);
  // On disk before any block: extent and directory block checksums read the
  // inode's generation back.
  VMI_CHECK(write_inode(fs_, ino, inode));
  switch (node.type) {
    case tree::FileType::kRegular:
      ++stats_.files;
      VMI_CHECK(write_regular(ino, inode, node));
      break;
    case tree::FileType::kDirectory:
      ++stats_.directories;
      VMI_CHECK(write_directory(ino, inode, id));
      break;
    case tree::FileType::kSymlink:
      ++stats_.symlinks;
      if (node.symlink_target.size() > kMaxFastSymlink) {
        VMI_CHECK(write_symlink_block(ino, inode, node.symlink_target));
      }
      break;
    default:
      ++stats_.special;
      break;
  }
  return write_xattrs(fs_, ino, node.xattrs);
}

Status ContentWriter::write_regular(ext2_ino_t ino, ext2_inode_large& inode,
                                  const tree::Inode& node) {
  VMI_TRY(FileDataReader reader, FileDataReader::open(sources_, node.data));
  ExtentTreeBuilder extents(fs_, ino, alloc_);
  if (hash_content_) {
    hash_u64(content_hash_, ino);
    hash_u64(content_hash_, reader.size());
  }
  uint64_t blocks = 0;
  uint64_t pos = 0;
  while (true) {
    VMI_TRY(uint64_t begin, reader.next_data(pos));
    if (begin >= reader.size()) break;
    VMI_TRY(uint64_t end, reader.data_end(begin));
    pos = begin / kBlockSize * kBlockSize;
    uint64_t region_end = (std::max(end, begin + 1) + kBlockSize - 1) / kBlockSize * kBlockSize;
    uint64_t stop = std::min<uint64_t>(pos + kChunkBytes, region_end);
    uint64_t bytes = std::min(stop, reader.size()) - pos;
    std::memset(buffer_.data() + bytes, 0, stop - pos - bytes);  // the last block's tail
    VMI_CHECK(reader.read(pos, std::as_writable_bytes(std::span(buffer_.data(), bytes))));
    VMI_TRY(uint64_t written, write_buffer(pos / kBlockSize, (stop - pos) / kBlockSize, extents));
    blocks += written;
    pos = stop;
  }
  stats_.data_blocks += blocks;
  VMI_CHECK(ext2_check(ext2fs_inode_size_set(fs_, EXT2_INODE(&inode), reader.size()),
                       "setting the file size"));
  return finish_blocks(ino, inode, extents, blocks);
}

Result<uint64_t> ContentWriter::write_buffer(uint64_t lblk, uint64_t count,
                                           ExtentTreeBuilder& extents) {
  uint64_t written = 0;
  for (uint64_t b = 0; b < count;) {
    if (all_zero(&buffer_[b * kBlockSize])) {  // left as a hole
      ++b;
      continue;
    }
    uint64_t e = b + 1;
    while (e < count && !all_zero(&buffer_[e * kBlockSize])) ++e;
    VMI_CHECK(write_data_run(lblk + b, &buffer_[b * kBlockSize], e - b, extents));
    written += e - b;
    b = e;
  }
  return written;
}

Status ContentWriter::write_data_run(uint64_t lblk, const unsigned char* data, uint64_t count,
                                   ExtentTreeBuilder& extents) {
  while (count > 0) {
    VMI_TRY(BlockRun run, alloc_.allocate(count));
    VMI_CHECK(
        ext2_check(io_channel_write_blk64(fs_->io, run.start, static_cast<int>(run.count), data),
                   "writing file data"));
    if (writeback_) writeback_->wrote(run.start * kBlockSize, run.count * kBlockSize);
    VMI_CHECK(extents.add(lblk, run.start, run.count));
    if (hash_content_) {
      hash_u64(content_hash_, lblk);
      content_hash_.update(
          std::string_view(reinterpret_cast<const char*>(data), run.count * kBlockSize));
    }
    lblk += run.count;
    data += run.count * kBlockSize;
    count -= run.count;
  }
  return {};
}

template <typename Fill>
Status ContentWriter::allocate_runs(uint64_t count, ExtentTreeBuilder& extents, Fill fill) {
  uint64_t lblk = 0;
  while (lblk < count) {
    VMI_TRY(BlockRun run, alloc_.allocate(count - lblk));
    VMI_CHECK(fill(lblk, run));
    VMI_CHECK(extents.add(lblk, run.start, run.count));
    lblk += run.count;
  }
  return {};
}

Status ContentWriter::write_directory(ext2_ino_t ino, ext2_inode_large& inode, tree::InodeId id) {
  VMI_TRY(DirLayout layout, DirLayout::plan(ino, plan_.ino[plan_.parent[id]],
                                            dir_entries(tree_, plan_, id), plan_.hash_seed));
  if (layout.indexed()) inode.i_flags |= EXT2_INDEX_FL;
  ExtentTreeBuilder extents(fs_, ino, alloc_);
  std::array<unsigned char, kBlockSize> block;
  VMI_CHECK(
      allocate_runs(layout.block_count(), extents, [&](uint64_t lblk, BlockRun run) -> Status {
        for (uint64_t i = 0; i < run.count; ++i) {
          layout.render(lblk + i, block);
          VMI_CHECK(ext2_check(ext2fs_write_dir_block4(fs_, run.start + i, block.data(), 0, ino),
                               "writing a directory block"));
        }
        return {};
      }));
  VMI_CHECK(
      ext2_check(ext2fs_inode_size_set(fs_, EXT2_INODE(&inode), layout.block_count() * kBlockSize),
                 "setting the directory size"));
  return finish_blocks(ino, inode, extents, layout.block_count());
}

Status ContentWriter::write_symlink_block(ext2_ino_t ino, ext2_inode_large& inode,
                                        const std::string& target) {
  ExtentTreeBuilder extents(fs_, ino, alloc_);
  std::array<unsigned char, kBlockSize> block{};
  std::memcpy(block.data(), target.data(), target.size());
  VMI_CHECK(allocate_runs(1, extents, [&](uint64_t, BlockRun run) -> Status {
    return ext2_check(io_channel_write_blk64(fs_->io, run.start, 1, block.data()),
                      "writing the symlink target");
  }));
  return finish_blocks(ino, inode, extents, 1);
}

Status ContentWriter::write_lost_found() {
  Status written = write_lost_found_dir();
  if (!written) return std::move(written).error().context("/lost+found");
  return {};
}

Status ContentWriter::write_lost_found_dir() {
  ext2_ino_t ino = plan_.lost_found_ino;
  ext2fs_inode_alloc_stats2(fs_, ino, +1, 1);
  tree::Inode node;
  node.type = tree::FileType::kDirectory;
  node.mode = 0700;
  node.mtime_sec = options_.timestamp;
  ext2_inode_large inode = make_inode(node, 2);
  VMI_CHECK(write_inode(fs_, ino, inode));
  VMI_TRY(DirLayout layout, DirLayout::plan(ino, EXT2_ROOT_INO, {}, plan_.hash_seed));
  ExtentTreeBuilder extents(fs_, ino, alloc_);
  std::array<unsigned char, kBlockSize> block;
  VMI_CHECK(allocate_runs(kLostFoundBlocks, extents, [&](uint64_t lblk, BlockRun run) -> Status {
    for (uint64_t i = 0; i < run.count; ++i) {
      if (lblk + i == 0) {
        layout.render(0, block);
      } else {
        DirLayout::render_empty(block);
      }
      VMI_CHECK(ext2_check(ext2fs_write_dir_block4(fs_, run.start + i, block.data(), 0, ino),
                           "writing /lost+found"));
    }
    return {};
  }));
  VMI_CHECK(
      ext2_check(ext2fs_inode_size_set(fs_, EXT2_INODE(&inode), kLostFoundBlocks * kBlockSize),
                 "setting the directory size"));
  ++stats_.directories;
  return finish_blocks(ino, inode, extents, kLostFoundBlocks);
}

Status ContentWriter::finish_blocks(ext2_ino_t ino, ext2_inode_large& inode,
                                  ExtentTreeBuilder& extents, uint64_t blocks) {
  VMI_TRY(uint64_t tree_blocks, extents.finish(inode));
  VMI_CHECK(ext2_check(ext2fs_iblk_set(fs_, EXT2_INODE(&inode), blocks + tree_blocks),
                       "setting the block count"));
  return write_inode(fs_, ino, inode);
}

}  // namespace vmimage::ext4
