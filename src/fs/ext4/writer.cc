// ext4 image writing: plan, size, format, fill, finish (see writer.h).
#include "fs/ext4/writer.h"

#include <unistd.h>

#include <cstring>

#include "fs/ext4/format.h"
#include "fs/ext4/write_time.h"
#include "fs/ext4/content_writer.h"
#include "fs/ext4/inode.h"
#include "fs/ext4/libext2fs.h"
#include "fs/ext4/plan.h"
#include "io/identity.h"
#include "util/file.h"

namespace vmimage::ext4 {
namespace {

Status check_options(const Ext4Options& options) {
  if (options.label.size() > 16) {
    return Error(ErrorKind::kUsage, "ext4 label \"" + options.label + "\" is longer than 16 bytes");
  }
  return {};
}

FormatParams format_params(const TreePlan& plan, const Geometry& geo, const Ext4Options& options) {
  FormatParams p;
  p.blocks = geo.blocks;
  p.inodes = geo.inodes;
  p.label = options.label;
  p.timestamp = options.timestamp;
  std::memcpy(p.hash_seed.data(), plan.hash_seed.data(), p.hash_seed.size());
  if (options.uuid) {
    p.uuid = *options.uuid;
  } else {
    // The UUID also covers file contents, known only once written: seed the
    // checksums from the metadata now and set the UUID at the end.
    p.csum_seed = true;
    p.checksum_uuid = io::derive16("ext4 checksum seed", {plan.metadata_digest});
    p.uuid = p.checksum_uuid;
  }
  return p;
}

// Everything besides the tree that shapes the image goes into its UUID.
std::string options_digest(const Geometry& geo, const Ext4Options& options) {
  return std::to_string(geo.blocks) + "/" + std::to_string(geo.inodes) + "/" +
         std::to_string(geo.file_size) + "/" + options.label + "/" +
         std::to_string(options.timestamp) + "/" + (options.journal ? "j" : "-") +
         (options.lost_and_found ? "l" : "-");
}

Status add_journal(ext2_filsys fs, int64_t timestamp) {
  ext2fs_journal_params params{};
  params.num_journal_blocks = static_cast<blk_t>(
      journal_blocks(ext2fs_blocks_count(fs->super), ext2fs_free_blocks_count(fs->super)));
  // LAZYINIT: the journal's blocks were never written, so they already read as zeros.
  VMI_CHECK(
      ext2_check(ext2fs_add_journal_inode3(fs, &params, ~blk64_t{0},
                                           EXT2_MKJOURNAL_LAZYINIT | EXT2_MKJOURNAL_NO_MNT_CHECK),
                 "creating the ext4 journal"));
  ext2_inode_large inode;
  ext2_ino_t ino = fs->super->s_journal_inum;
  VMI_CHECK(ext2_check(ext2fs_read_inode_full(fs, ino, EXT2_INODE(&inode), sizeof inode),
                       "reading the journal inode"));
  set_times(inode, timestamp, 0);
  return write_inode(fs, ino, inode);
}

std::vector<uint64_t> superblock_offsets(ext2_filsys fs) {
  std::vector<uint64_t> offsets{SUPERBLOCK_OFFSET};
  for (dgrp_t g = 1; g < fs->group_desc_count; ++g) {
    if (ext2fs_bg_has_super(fs, g))
      offsets.push_back(ext2fs_group_first_block2(fs, g) * kBlockSize);
  }
  return offsets;
}

void fill_stats(ext2_filsys fs, const Geometry& geo, Ext4Stats& stats) {
  stats.size_bytes = geo.file_size;
  stats.min_size_bytes = geo.min_blocks * kBlockSize;
  stats.auto_sized = geo.auto_sized;
  stats.blocks = ext2fs_blocks_count(fs->super);
  stats.free_blocks = ext2fs_free_blocks_count(fs->super);
  stats.inodes = fs->super->s_inodes_count;
  stats.inodes_used = fs->super->s_inodes_count - fs->super->s_free_inodes_count;
  io::Uuid uuid;
  std::memcpy(uuid.data(), fs->super->s_uuid, uuid.size());
  stats.uuid = io::format_uuid(uuid);
}

}  // namespace

Result<uint64_t> ext4_size_needed(const tree::Tree& tree, const tree::DataSources& sources,
                                  const Ext4Options& options) {
  VMI_CHECK(check_options(options));
  Ext4Options automatic = options;
  automatic.size_bytes = 0;
  automatic.extra_free_bytes = 0;
  VMI_TRY(TreePlan plan, plan_tree(tree, automatic));
  VMI_TRY(uint64_t content, content_blocks(tree, sources, plan));
  VMI_TRY(Geometry geo, choose_geometry(content, plan, automatic));
  return geo.min_blocks * kBlockSize;
}

Result<Ext4Stats> write_ext4(const tree::Tree& tree, const tree::DataSources& sources,
                             const std::string& output_path, const Ext4Options& options) {
  VMI_CHECK(check_options(options));
  VMI_TRY(AtomicFile file, AtomicFile::create(output_path));
  Result<Ext4Stats> stats = write_ext4_file(tree, sources, file.fd(), file.temp_path(), options);
  if (!stats) return std::move(stats).error().context("writing " + output_path);
  VMI_CHECK(file.commit());
  return stats;
}

Result<Ext4Stats> write_ext4_file(const tree::Tree& tree, const tree::DataSources& sources, int fd,
                                  const std::string& path, const Ext4Options& options) {
  VMI_CHECK(check_options(options));
  VMI_TRY(TreePlan plan, plan_tree(tree, options));
  VMI_TRY(uint64_t content, content_blocks(tree, sources, plan));
  VMI_TRY(Geometry geo, choose_geometry(content, plan, options));

  if (::ftruncate(fd, 0) != 0 || ::ftruncate(fd, static_cast<off_t>(geo.file_size)) != 0) {
    return sys_error(ErrorKind::kIo, "sizing " + path);
  }
  VMI_TRY(FsHandle fs, format_fs(path, format_params(plan, geo, options)));
  // The image is not read back here: its data need not stay cached. libext2fs
  // writes through its own descriptor of the same file.
  WritebackStarter writeback(fd, PageCache::kDropBehind);
  ContentWriter writer(fs.get(), tree, sources, plan, options, &writeback);
  VMI_CHECK(writer.write_all());
  if (!options.uuid) {
    io::Uuid uuid = io::derive_uuid("ext4 uuid", {plan.metadata_digest, writer.content_digest(),
                                                  options_digest(geo, options)});
    std::memcpy(fs->super->s_uuid, uuid.data(), uuid.size());
  }
  if (options.journal) VMI_CHECK(add_journal(fs.get(), options.timestamp));

  Ext4Stats stats = writer.stats();
  fill_stats(fs.get(), geo, stats);
  std::vector<uint64_t> offsets = superblock_offsets(fs.get());
  VMI_CHECK(fs.close());
  VMI_CHECK(set_superblock_write_time(fd, offsets, options.timestamp, path));
  return stats;
}

}  // namespace vmimage::ext4
