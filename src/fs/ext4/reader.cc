// ext4 image → metadata tree (see reader.h): inode fields decoded as ext4_iget
// does (uid/gid high halves, 34-bit times with nanoseconds, old and new device
// encodings), directories through ext2fs_dir_iterate2.
#include "fs/ext4/reader.h"

#include <deque>
#include <unordered_map>
#include <vector>

#include "fs/ext4/libext2fs.h"
#include "tree/storable.h"

namespace vmimage::ext4 {
namespace {

struct DirEntry {
  std::string name;
  ext2_ino_t ino;
};

int collect_entry(ext2_ino_t, int, ext2_dir_entry* dirent, int, int, char*, void* priv) {
  auto* out = static_cast<std::vector<DirEntry>*>(priv);
  int len = ext2fs_dirent_name_len(dirent);
  std::string name(dirent->name, static_cast<size_t>(len));
  if (name != "." && name != "..") out->push_back(DirEntry{std::move(name), dirent->inode});
  return 0;
}

std::optional<tree::FileType> type_of(uint16_t mode) {
  switch (mode & 0170000) {
    case 0100000: return tree::FileType::kRegular;
    case 0040000: return tree::FileType::kDirectory;
    case 0120000: return tree::FileType::kSymlink;
    case 0020000: return tree::FileType::kCharDevice;
    case 0060000: return tree::FileType::kBlockDevice;
    case 0010000: return tree::FileType::kFifo;
    case 0140000: return tree::FileType::kSocket;
    default: return std::nullopt;
  }
}

class Reader {
 public:
  explicit Reader(ext2_filsys fs, std::string path) : fs_(fs), path_(std::move(path)) {}

  Result<tree::Tree> run() {
    tree::Tree out;
    VMI_CHECK(fill(EXT2_ROOT_INO, out.inode(out.root())));
    if (!out.inode(out.root()).is_dir()) return error("the root inode is not a directory");
    std::deque<std::pair<ext2_ino_t, tree::InodeId>> queue{{EXT2_ROOT_INO, out.root()}};
    by_ino_[EXT2_ROOT_INO] = out.root();
    while (!queue.empty()) {
      auto [ino, id] = queue.front();
      queue.pop_front();
      std::vector<DirEntry> entries;
      errcode_t code = ext2fs_dir_iterate2(fs_, ino, 0, nullptr, collect_entry, &entries);
      if (code != 0) return ext2_error(code, path_ + ": reading directory inode " + std::to_string(ino));
      for (DirEntry& e : entries) {
        auto known = by_ino_.find(e.ino);
        tree::InodeId child;
        if (known != by_ino_.end()) {
          child = known->second;
          if (out.inode(child).is_dir()) return error("directory \"" + e.name + "\" has two names");
        } else {
          tree::Inode node;
          VMI_CHECK(fill(e.ino, node));
          bool dir = node.is_dir();
          child = out.add(std::move(node));
          by_ino_[e.ino] = child;
          if (dir) queue.emplace_back(e.ino, child);
        }
        out.inode(id).children[std::move(e.name)] = child;
      }
    }
    return out;
  }

 private:
  Error error(const std::string& what) const {
    return Error(ErrorKind::kLayerFs, path_ + ": " + what);
  }

  Status fill(ext2_ino_t ino, tree::Inode& node) {
    ext2_inode_large inode{};
    errcode_t code = ext2fs_read_inode_full(fs_, ino, EXT2_INODE(&inode), sizeof inode);
    if (code != 0) return ext2_error(code, path_ + ": reading inode " + std::to_string(ino));
    std::optional<tree::FileType> type = type_of(inode.i_mode);
    if (!type) return error("inode " + std::to_string(ino) + " has a bogus mode");
    node.type = *type;
    node.mode = inode.i_mode & 07777;
    node.uid = inode.i_uid | (uint32_t{inode.osd2.linux2.l_i_uid_high} << 16);
    node.gid = inode.i_gid | (uint32_t{inode.osd2.linux2.l_i_gid_high} << 16);
    node.mtime_sec = static_cast<int32_t>(inode.i_mtime);
    if (inode.i_extra_isize >= 8) {  // i_mtime_extra is present
      node.mtime_sec += int64_t{inode.i_mtime_extra & EXT4_EPOCH_MASK} << 32;
      node.mtime_nsec = inode.i_mtime_extra >> EXT4_EPOCH_BITS;
    }
    if (node.type == tree::FileType::kCharDevice || node.type == tree::FileType::kBlockDevice) {
      if (inode.i_block[0] != 0) {
        node.rdev_major = (inode.i_block[0] >> 8) & 0xff;
        node.rdev_minor = inode.i_block[0] & 0xff;
      } else {
        uint32_t dev = inode.i_block[1];
        node.rdev_major = (dev & 0xfff00) >> 8;
        node.rdev_minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
      }
    }
    if (node.type == tree::FileType::kRegular) node.data.size = EXT2_I_SIZE(&inode);
    if (node.type == tree::FileType::kSymlink) VMI_CHECK(read_symlink(ino, inode, node));
    return read_xattrs(ino, node);
  }

  Status read_symlink(ext2_ino_t ino, ext2_inode_large& inode, tree::Inode& node) {
    uint64_t size = EXT2_I_SIZE(&inode);
    if (size == 0 || size > tree::kMaxSymlinkTarget) {
      return error("symlink inode " + std::to_string(ino) + " has a target of " +
                   std::to_string(size) + " bytes");
    }
    if (ext2fs_is_fast_symlink(EXT2_INODE(&inode))) {
      node.symlink_target.assign(reinterpret_cast<const char*>(inode.i_block), size);
      return {};
    }
    ext2_file_t file = nullptr;
    errcode_t code = ext2fs_file_open2(fs_, ino, EXT2_INODE(&inode), 0, &file);
    if (code != 0) return ext2_error(code, path_ + ": opening symlink inode " + std::to_string(ino));
    node.symlink_target.resize(size);
    unsigned int got = 0;
    code = ext2fs_file_read(file, node.symlink_target.data(), static_cast<unsigned>(size), &got);
    ext2fs_file_close(file);
    if (code != 0 || got != size) {
      return ext2_error(code != 0 ? code : EXT2_ET_SHORT_READ,
                        path_ + ": reading symlink inode " + std::to_string(ino));
    }
    return {};
  }

  static int collect_xattr(char* name, char* value, size_t value_len, void* priv) {
    static_cast<tree::Inode*>(priv)->set_xattr(name, std::string(value, value_len));
    return 0;
  }

  Status read_xattrs(ext2_ino_t ino, tree::Inode& node) {
    ext2_xattr_handle* handle = nullptr;
    errcode_t code = ext2fs_xattrs_open(fs_, ino, &handle);
    if (code == 0) code = ext2fs_xattrs_read(handle);
    if (code == 0) code = ext2fs_xattrs_iterate(handle, collect_xattr, &node);
    if (handle != nullptr) ext2fs_xattrs_close(&handle);
    if (code != 0) return ext2_error(code, path_ + ": reading the xattrs of inode " + std::to_string(ino));
    return {};
  }

  ext2_filsys fs_;
  std::string path_;
  std::unordered_map<ext2_ino_t, tree::InodeId> by_ino_;
};

}  // namespace

Result<tree::Tree> read_tree(const std::string& path) {
  init_ext2_error_table();
  ext2_filsys fs = nullptr;
  errcode_t code = ext2fs_open(path.c_str(), EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs);
  if (code != 0) return ext2_error(code, "opening ext4 image " + path);
  FsHandle handle(fs);
  return Reader(fs, path).run();
}

}  // namespace vmimage::ext4
