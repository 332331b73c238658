// The filesystem tree every input becomes and every writer serialises:
// inodes in a flat vector addressed by InodeId, directories mapping names to ids
// (hardlinks are two names for one id). File bytes are not held here: a FileData
// says where they already sit, in files registered in DataSources.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace vmimage::tree {

using InodeId = uint32_t;
constexpr InodeId kNoInode = UINT32_MAX;

enum class FileType : uint8_t {
  kRegular,
  kDirectory,
  kSymlink,
  kCharDevice,
  kBlockDevice,
  kFifo,
  kSocket,
};

// `length` bytes at `offset` in the file registered as `source` in DataSources.
struct Extent {
  uint32_t source = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
};

// A regular file's `size` bytes: the first body.length bytes are contiguous in
// body's source, the remaining tail.length bytes in tail's source.
// body.length + tail.length == size. Writers that place data in whole blocks keep
// body.offset block-aligned and may report a body padded up to the block size
// (then body.length == size and tail.length == 0).
struct FileData {
  uint64_t size = 0;
  Extent body;
  Extent tail;
};

struct Xattr {
  std::string name;  // full name: "user.x", "trusted.overlay.opaque", "security.capability"
  std::string value;
  bool operator==(const Xattr&) const = default;
};

struct Inode {
  FileType type = FileType::kRegular;
  uint32_t mode = 0644;  // permission bits only, including setuid/setgid/sticky (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime_sec = 0;
  uint32_t mtime_nsec = 0;
  uint32_t rdev_major = 0;
  uint32_t rdev_minor = 0;
  std::string symlink_target;
  std::vector<Xattr> xattrs;  // sorted by name, names unique
  FileData data;              // kRegular only
  // kDirectory only; no "." or "..". std::less<> looks names up by string_view.
  std::map<std::string, InodeId, std::less<>> children;

  bool is_dir() const { return type == FileType::kDirectory; }
  // Sets or replaces an xattr, keeping the vector sorted.
  void set_xattr(std::string name, std::string value);
  bool remove_xattr(std::string_view name);
  const std::string* find_xattr(std::string_view name) const;
};

// The tree: inode 0 is the root directory (0755 root:root, mtime 0 until set).
// Inodes that lose their last name stay in the vector; writers only emit what is
// reachable from the root (see reachable_inodes / link_counts).
class Tree {
 public:
  Tree();

  InodeId root() const { return 0; }
  Inode& inode(InodeId id) { return inodes_[id]; }
  const Inode& inode(InodeId id) const { return inodes_[id]; }
  InodeId add(Inode inode);
  size_t size() const { return inodes_.size(); }

  // Follows a normalized relative path ("a/b/c", "" = root) through directories
  // (symlinks are not followed). Returns kNoInode when absent.
  InodeId lookup(std::string_view path) const;

 private:
  std::vector<Inode> inodes_;
};

// The S_IF* type bits of st_mode for a file type (the same on every Linux filesystem).
uint32_t type_mode_bits(FileType type);

// Reachable inodes in a deterministic order (breadth-first from the root, children
// by name), each listed once even when hardlinked.
std::vector<InodeId> reachable_inodes(const Tree& tree);
// Link counts indexed by InodeId: directories 2 + subdirectories, others the number
// of names; unreachable inodes 0.
std::vector<uint32_t> link_counts(const Tree& tree);

}  // namespace vmimage::tree
