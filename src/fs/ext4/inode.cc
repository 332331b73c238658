// Tree inode -> ext4 inode (see inode.h).
#include "fs/ext4/inode.h"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "fs/ext4/format.h"
#include "fs/ext4/libext2fs.h"

namespace vmimage::ext4 {
namespace {

static_assert(sizeof(ext2_inode_large) == 160, "i_extra_isize below assumes the 1.47 layout");

constexpr uint16_t kExtraIsize = sizeof(ext2_inode_large) - EXT2_GOOD_OLD_INODE_SIZE;  // 32
// ext4 keeps 34-bit seconds: a signed 32-bit field plus two epoch bits.
constexpr int64_t kMinTime = -(int64_t{1} << 31);
constexpr int64_t kMaxTime = (int64_t{3} << 32) + (int64_t{1} << 31) - 1;


// The kernel's encoding: the old 8:8 form in i_block[0] when both numbers fit,
// else the 12:20 form in i_block[1] (see ext4_iget / new_encode_dev).
void set_device(ext2_inode_large& inode, uint32_t major, uint32_t minor) {
  if (major < 256 && minor < 256) {
    inode.i_block[0] = (major << 8) | minor;
  } else {
    inode.i_block[1] = (minor & 0xff) | (major << 8) | ((minor & ~0xffU) << 12);
  }
}

// Bytes an xattr entry takes in ext4: a 16-byte header, the name without its
// namespace prefix, and the value, each padded to 4 bytes.
size_t xattr_entry_size(const tree::Xattr& x) {
  static constexpr std::string_view kPrefixes[] = {
      "user.",  "trusted.", "security.", "system.posix_acl_access", "system.posix_acl_default",
      "system."};
  size_t name_len = x.name.size();
  for (std::string_view p : kPrefixes) {
    if (std::string_view(x.name).starts_with(p)) {
      name_len = x.name.size() - p.size();
      break;
    }
  }
  return ((16 + name_len + 3) & ~size_t{3}) + ((x.value.size() + 3) & ~size_t{3});
}

}  // namespace

void set_times(ext2_inode_large& inode, int64_t sec, uint32_t nsec) {
  sec = std::clamp(sec, kMinTime, kMaxTime);
  nsec = std::min<uint32_t>(nsec, 999999999);
  uint32_t lo = static_cast<uint32_t>(sec);
  uint32_t epoch =
      static_cast<uint32_t>(((sec - static_cast<int32_t>(lo)) >> 32) & EXT4_EPOCH_MASK);
  uint32_t extra = (nsec << EXT4_EPOCH_BITS) | epoch;
  inode.i_atime = inode.i_ctime = inode.i_mtime = inode.i_crtime = lo;
  inode.i_atime_extra = inode.i_ctime_extra = inode.i_mtime_extra = inode.i_crtime_extra = extra;
}

ext2_inode_large make_inode(const tree::Inode& node, uint32_t links) {
  ext2_inode_large inode;
  std::memset(&inode, 0, sizeof inode);
  inode.i_mode = static_cast<uint16_t>(tree::type_mode_bits(node.type) | (node.mode & 07777));
  inode.i_uid = static_cast<uint16_t>(node.uid);
  inode.osd2.linux2.l_i_uid_high = static_cast<uint16_t>(node.uid >> 16);
  inode.i_gid = static_cast<uint16_t>(node.gid);
  inode.osd2.linux2.l_i_gid_high = static_cast<uint16_t>(node.gid >> 16);
  // dir_nlink: a directory with too many subdirectories counts 1 link.
  inode.i_links_count = static_cast<uint16_t>(links > kMaxLinks ? 1 : links);
  inode.i_extra_isize = kExtraIsize;
  set_times(inode, node.mtime_sec, node.mtime_nsec);
  switch (node.type) {
    case tree::FileType::kRegular:
    case tree::FileType::kDirectory:
      inode.i_flags = EXT4_EXTENTS_FL;
      break;
    case tree::FileType::kSymlink:
      if (node.symlink_target.size() <= kMaxFastSymlink) {
        std::memcpy(inode.i_block, node.symlink_target.data(), node.symlink_target.size());
      } else {
        inode.i_flags = EXT4_EXTENTS_FL;
      }
      inode.i_size = static_cast<uint32_t>(node.symlink_target.size());
      break;
    case tree::FileType::kCharDevice:
    case tree::FileType::kBlockDevice:
      set_device(inode, node.rdev_major, node.rdev_minor);
      break;
    case tree::FileType::kFifo:
    case tree::FileType::kSocket:
      break;
  }
  return inode;
}

uint8_t dirent_file_type(tree::FileType type) {
  switch (type) {
    case tree::FileType::kRegular:
      return EXT2_FT_REG_FILE;
    case tree::FileType::kDirectory:
      return EXT2_FT_DIR;
    case tree::FileType::kSymlink:
      return EXT2_FT_SYMLINK;
    case tree::FileType::kCharDevice:
      return EXT2_FT_CHRDEV;
    case tree::FileType::kBlockDevice:
      return EXT2_FT_BLKDEV;
    case tree::FileType::kFifo:
      return EXT2_FT_FIFO;
    case tree::FileType::kSocket:
      return EXT2_FT_SOCK;
  }
  return EXT2_FT_UNKNOWN;
}

Status write_inode(ext2_filsys fs, ext2_ino_t ino, ext2_inode_large& inode) {
  errcode_t code =
      ext2fs_write_inode_full(fs, ino, reinterpret_cast<ext2_inode*>(&inode), sizeof inode);
  return ext2_check(code, "writing the inode");
}

namespace {

// Sets every xattr; on failure `failed` names the one that did not fit.
errcode_t set_all(ext2_xattr_handle* handle, const std::vector<tree::Xattr>& xattrs,
                  const tree::Xattr*& failed) {
  errcode_t code = ext2fs_xattrs_read(handle);
  for (size_t i = 0; code == 0 && i < xattrs.size(); ++i) {
    failed = &xattrs[i];
    code = ext2fs_xattr_set(handle, xattrs[i].name.c_str(), xattrs[i].value.data(),
                            xattrs[i].value.size());
  }
  if (code != 0) return code;
  failed = nullptr;
  return ext2fs_xattrs_write(handle);
}

}  // namespace

Status write_xattrs(ext2_filsys fs, ext2_ino_t ino, const std::vector<tree::Xattr>& xattrs) {
  if (xattrs.empty()) return {};
  ext2_xattr_handle* handle = nullptr;
  VMI_CHECK(ext2_check(ext2fs_xattrs_open(fs, ino, &handle), "opening the xattrs"));
  const tree::Xattr* failed = nullptr;
  errcode_t code = set_all(handle, xattrs, failed);
  errcode_t close_code = ext2fs_xattrs_close(&handle);
  if (code == 0) code = close_code;
  if (code == 0) return {};
  if (failed == nullptr) return ext2_error(code, "writing the xattrs");
  return ext2_error(code, "setting xattr " + failed->name + " (" +
                              std::to_string(failed->value.size()) + " bytes)");
}

bool xattrs_need_block(const std::vector<tree::Xattr>& xattrs) {
  // In-inode room: 256 - 128 - extra_isize(32) - magic(4), less the 4-byte end marker.
  constexpr size_t kInInode = kInodeSize - EXT2_GOOD_OLD_INODE_SIZE - kExtraIsize - 4 - 4;
  size_t total = 0;
  for (const tree::Xattr& x : xattrs) total += xattr_entry_size(x);
  return total > kInInode;
}

}  // namespace vmimage::ext4
