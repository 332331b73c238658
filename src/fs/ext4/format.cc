// ext4 formatting through libext2fs (see format.h). The steps follow what
// mke2fs does for "-t ext4" with lazy_itable_init on a fresh sparse file.
#include "fs/ext4/format.h"

#include <algorithm>
#include <cstring>

namespace vmimage::ext4 {
namespace {

constexpr uint32_t kGroupsPerFlexLog = 4;  // 16 groups per flex group, as mke2fs

void set_features(ext2_super_block& sb, bool csum_seed) {
  sb.s_feature_compat = EXT2_FEATURE_COMPAT_EXT_ATTR | EXT2_FEATURE_COMPAT_DIR_INDEX;
  sb.s_feature_incompat = EXT2_FEATURE_INCOMPAT_FILETYPE | EXT3_FEATURE_INCOMPAT_EXTENTS |
                          EXT4_FEATURE_INCOMPAT_64BIT | EXT4_FEATURE_INCOMPAT_FLEX_BG;
  if (csum_seed) sb.s_feature_incompat |= EXT4_FEATURE_INCOMPAT_CSUM_SEED;
  sb.s_feature_ro_compat = EXT2_FEATURE_RO_COMPAT_SPARSE_SUPER | EXT2_FEATURE_RO_COMPAT_LARGE_FILE |
                           EXT4_FEATURE_RO_COMPAT_HUGE_FILE | EXT4_FEATURE_RO_COMPAT_DIR_NLINK |
                           EXT4_FEATURE_RO_COMPAT_EXTRA_ISIZE |
                           EXT4_FEATURE_RO_COMPAT_METADATA_CSUM;
}

ext2_super_block make_param(uint64_t blocks, uint64_t inodes, bool csum_seed) {
  ext2_super_block param;
  std::memset(&param, 0, sizeof param);
  set_features(param, csum_seed);  // first: the block count's high half needs 64bit
  ext2fs_blocks_count_set(&param, blocks);
  param.s_log_block_size = 2;  // 1024 << 2 = 4 KiB
  param.s_rev_level = EXT2_DYNAMIC_REV;
  param.s_inode_size = kInodeSize;
  param.s_inodes_count = static_cast<uint32_t>(std::min<uint64_t>(inodes, UINT32_MAX));
  param.s_log_groups_per_flex = kGroupsPerFlexLog;
  param.s_desc_size = EXT2_MIN_DESC_SIZE_64BIT;
  return param;
}

errcode_t initialize_raw(const std::string& path, uint64_t blocks, uint64_t inodes, bool csum_seed,
                         FsHandle& out) {
  init_ext2_error_table();
  if (blocks == 0 || blocks > kMaxBlocks) return EXT2_ET_INVALID_ARGUMENT;
  ext2_super_block param = make_param(blocks, inodes, csum_seed);
  ext2_filsys fs = nullptr;
  errcode_t code = ext2fs_initialize(path.c_str(), EXT2_FLAG_64BITS, &param, unix_io_manager, &fs);
  if (code == 0) out = FsHandle(fs);
  return code;
}

Result<FsHandle> initialize(const std::string& path, uint64_t blocks, uint64_t inodes,
                            bool csum_seed) {
  FsHandle fs;
  errcode_t code = initialize_raw(path, blocks, inodes, csum_seed, fs);
  if (code != 0) {
    return ext2_error(code, "formatting ext4 (" + std::to_string(blocks) + " blocks, " +
                                std::to_string(inodes) + " inodes) on " + path);
  }
  return fs;
}

// Superblock fields mke2fs sets beyond ext2fs_initialize's defaults; none may
// depend on the clock or randomness, so the image is reproducible.
void set_identity(ext2_filsys fs, const FormatParams& p) {
  ext2_super_block* sb = fs->super;
  std::memcpy(sb->s_uuid, p.uuid.data(), 16);
  std::memcpy(sb->s_hash_seed, p.hash_seed.data(), 16);
  sb->s_def_hash_version = EXT2_HASH_HALF_MD4;
  // The signed variant on every host, so images do not depend on char signedness.
  sb->s_flags = (sb->s_flags & ~EXT2_FLAGS_UNSIGNED_HASH) | EXT2_FLAGS_SIGNED_HASH;
  std::memset(sb->s_volume_name, 0, sizeof sb->s_volume_name);
  std::memcpy(sb->s_volume_name, p.label.data(),
              std::min(p.label.size(), sizeof sb->s_volume_name));
  sb->s_max_mnt_count = static_cast<uint16_t>(-1);  // no periodic fsck
  sb->s_checkinterval = 0;
  sb->s_default_mount_opts = EXT2_DEFM_XATTR_USER | EXT2_DEFM_ACL;
  sb->s_errors = EXT2_ERRORS_CONTINUE;
  sb->s_kbytes_written = 0;  // non-zero would make close() add I/O statistics
  uint64_t t = static_cast<uint64_t>(std::max<int64_t>(p.timestamp, 0));
  sb->s_mkfs_time = sb->s_lastcheck = static_cast<uint32_t>(t);
  sb->s_mkfs_time_hi = sb->s_lastcheck_hi = static_cast<uint8_t>(t >> 32);
  sb->s_checksum_type = EXT2_CRC32C_CHKSUM;
  if (p.csum_seed) {
    sb->s_checksum_seed = ext2fs_crc32c_le(~0U, p.checksum_uuid.data(), 16);
  }
  // libext2fs stamps "now" into a few structures it writes itself (superblock
  // write time, journal inode); a fixed non-zero value keeps the wall clock out.
  fs->now = p.timestamp > 0 ? static_cast<time_t>(p.timestamp) : 1;
  ext2fs_init_csum_seed(fs);
}

// A fresh file reads as zeros, so the inode tables are already initialized:
// flag them so neither the kernel's lazyinit thread nor e2fsck rewrites them.
void mark_tables_zeroed(ext2_filsys fs) {
  for (dgrp_t g = 0; g < fs->group_desc_count; ++g) {
    ext2fs_bg_flags_set(fs, g, EXT2_BG_INODE_ZEROED);
    ext2fs_group_desc_csum_set(fs, g);
  }
}

}  // namespace

Result<FsHandle> format_fs(const std::string& path, const FormatParams& params) {
  VMI_TRY(FsHandle fs, initialize(path, params.blocks, params.inodes, params.csum_seed));
  set_identity(fs.get(), params);
  VMI_CHECK(ext2_check(ext2fs_allocate_tables(fs.get()), "allocating ext4 group tables"));
  mark_tables_zeroed(fs.get());
  // Reserved inodes (bad blocks, journal, resize, ...) count as used, root as a
  // directory: exactly what e2fsck expects of a fresh filesystem.
  for (ext2_ino_t ino = 1; ino < kFirstIno; ++ino) {
    ext2fs_inode_alloc_stats2(fs.get(), ino, +1, ino == EXT2_ROOT_INO ? 1 : 0);
  }
  ext2fs_mark_super_dirty(fs.get());
  return fs;
}

Result<Capacity> probe_capacity(uint64_t blocks, uint64_t inodes) {
  // Formatting onto /dev/null computes the layout in memory; nothing is flushed
  // because the handle is freed, never closed.
  FsHandle fs;
  errcode_t code = initialize_raw("/dev/null", blocks, inodes, false, fs);
  // No room even for the metadata, or not for the inode tables the inode count
  // needs (libext2fs shrinks the groups to get more of them, down to where a
  // group cannot hold its share of the tables): a larger size may fit.
  if (code == EXT2_ET_TOOSMALL || code == EXT2_ET_TOO_MANY_INODES) return Capacity{};
  if (code != 0) {
    return ext2_error(code, "computing an ext4 layout of " + std::to_string(blocks) +
                                " blocks and " + std::to_string(inodes) + " inodes");
  }
  VMI_CHECK(ext2_check(ext2fs_allocate_tables(fs.get()), "allocating ext4 group tables"));
  Capacity c;
  c.blocks = ext2fs_blocks_count(fs->super);
  c.free_blocks = ext2fs_free_blocks_count(fs->super);
  c.inodes = fs->super->s_inodes_count;
  return c;
}

}  // namespace vmimage::ext4
