// ext4 on-disk inodes from tree inodes: mode, 32-bit owners, nanosecond times
// (extra_isize), device numbers, fast symlinks, and xattrs through libext2fs.
// Format: ext4 "Inode Table" (256-byte inodes, i_extra_isize = 32).
#pragma once

#include <ext2fs/ext2fs.h>

#include <string>
#include <vector>

#include "tree/tree.h"
#include "vmimage/result.h"

namespace vmimage::ext4 {

// Longest symlink target stored in i_block itself ("fast symlink").
constexpr size_t kMaxFastSymlink = 59;
constexpr size_t kMaxSymlink = 4095;
constexpr uint32_t kMaxLinks = 65000;  // EXT4_LINK_MAX

// The inode for `node` with `links` names: everything except the block map,
// i_size and i_blocks of files and directories, which the writer fills in.
ext2_inode_large make_inode(const tree::Inode& node, uint32_t links);

// All times (a, c, m, cr) set to sec.nsec, clamped to ext4's range.
void set_times(ext2_inode_large& inode, int64_t sec, uint32_t nsec);

// The file-type code directory entries use for `type` (EXT2_FT_*).
uint8_t dirent_file_type(tree::FileType type);

Status write_inode(ext2_filsys fs, ext2_ino_t ino, ext2_inode_large& inode);

// Stores the xattrs (in the inode when they fit, else in one xattr block).
// POSIX ACLs ("system.posix_acl_*") arrive in the kernel's xattr format and
// are converted to ext4's on-disk ACL format by libext2fs.
Status write_xattrs(ext2_filsys fs, ext2_ino_t ino, const std::vector<tree::Xattr>& xattrs);

// Whether `xattrs` need an xattr block (upper bound used for sizing).
bool xattrs_need_block(const std::vector<tree::Xattr>& xattrs);

}  // namespace vmimage::ext4
