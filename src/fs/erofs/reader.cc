// The EROFS reader: superblock checks as fs/erofs/super.c does them, inodes as
// fs/erofs/inode.c, data mapping as data.c (FLAT_PLAIN / FLAT_INLINE), directories
// as dir.c and xattrs as xattr.c, each with explicit bounds checks.
#include "fs/erofs/reader.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <unordered_map>

#include "fs/erofs/format.h"
#include "fs/erofs/xattr.h"
#include "util/file.h"

namespace vmimage::erofs {
namespace {

constexpr uint64_t kMaxSymlink = 65535;

Error corrupt(const std::string& name, const std::string& what) {
  return Error(ErrorKind::kLayerFs, name + ": " + what);
}

Status check_superblock(const SuperBlock& sb, std::span<const std::byte> region,
                        const std::string& name) {
  if (sb.magic != kSuperMagic) return corrupt(name, "not an EROFS image (bad magic)");
  if (sb.blkszbits < 9 || sb.blkszbits > 16) {
    return corrupt(name, "unsupported block size 2^" + std::to_string(sb.blkszbits));
  }
  if (sb.feature_compat & kFeatureCompatSbChksum) {
    uint32_t crc = superblock_checksum(region);
    if (crc != sb.checksum) return corrupt(name, "superblock checksum mismatch");
  }
  if (sb.feature_incompat & ~kFeatureIncompatZeroPadding) {
    return corrupt(
        name, "unsupported incompatible features 0x" + [&] {
          char buf[16];
          snprintf(buf, sizeof buf, "%x", sb.feature_incompat);
          return std::string(buf);
        }());
  }
  if (sb.sb_extslots != 0 || sb.extra_devices != 0 || sb.dirblkbits != 0) {
    return corrupt(name, "unsupported superblock extensions");
  }
  return {};
}

}  // namespace

Result<ImageReader> ImageReader::open(int fd, std::string name, std::optional<uint64_t> end) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return sys_error(ErrorKind::kIo, "inspecting " + name);
  uint64_t size = std::min(static_cast<uint64_t>(st.st_size), end.value_or(UINT64_MAX));
  ImageReader r(fd, std::move(name), size);
  SuperBlock sb;
  VMI_CHECK(r.read_at(kSuperOffset, std::as_writable_bytes(std::span(&sb, 1)), "superblock"));
  if (sb.magic != kSuperMagic) return corrupt(r.name_, "not an EROFS image (bad magic)");
  uint32_t bs = sb.blkszbits >= 9 && sb.blkszbits <= 16 ? 1u << sb.blkszbits : 4096;
  std::vector<std::byte> region(checksum_length(bs));
  VMI_CHECK(r.read_at(kSuperOffset, region, "superblock block"));
  VMI_CHECK(check_superblock(sb, region, r.name_));
  if (uint64_t{sb.blocks} * bs > r.file_size_) {
    return corrupt(r.name_, "image is truncated: " + std::to_string(r.file_size_) +
                                " bytes, the superblock says " + std::to_string(sb.blocks) +
                                " blocks of " + std::to_string(bs));
  }
  SuperInfo& s = r.super_;
  s.block_size = bs;
  s.feature_compat = sb.feature_compat;
  s.feature_incompat = sb.feature_incompat;
  s.root_nid = sb.root_nid;
  s.inos = sb.inos;
  s.build_time = static_cast<int64_t>(sb.build_time);
  s.build_time_nsec = sb.build_time_nsec;
  s.blocks = sb.blocks;
  s.meta_blkaddr = sb.meta_blkaddr;
  s.xattr_blkaddr = sb.xattr_blkaddr;
  std::memcpy(s.uuid.data(), sb.uuid, 16);
  s.volume_name.assign(reinterpret_cast<const char*>(sb.volume_name),
                       strnlen(reinterpret_cast<const char*>(sb.volume_name), 16));
  return r;
}

Status ImageReader::read_at(uint64_t offset, std::span<std::byte> out, const char* what) const {
  if (offset > file_size_ || out.size() > file_size_ - offset) {
    return corrupt(name_, std::string(what) + " at offset " + std::to_string(offset) + " (" +
                              std::to_string(out.size()) +
                              " bytes) lies past the end of the image");
  }
  return window_.read(fd_, offset, out, name_);
}

namespace {

void parse_extended(const InodeExtended& e, InodeInfo& info) {
  info.size = e.size;
  info.raw_blkaddr = e.u;
  info.ino = e.ino;
  info.uid = e.uid;
  info.gid = e.gid;
  info.nlink = e.nlink;
  info.mtime_sec = static_cast<int64_t>(e.mtime);
  info.mtime_nsec = e.mtime_nsec;
}

// Compact inodes carry no timestamp: they all have the build time.
void parse_compact(const InodeCompact& c, const SuperInfo& super, InodeInfo& info) {
  info.size = c.size;
  info.raw_blkaddr = c.u;
  info.ino = c.ino;
  info.uid = c.uid;
  info.gid = c.gid;
  info.nlink = c.nlink;
  info.mtime_sec = super.build_time;
  info.mtime_nsec = super.build_time_nsec;
}

}  // namespace

Result<InodeInfo> ImageReader::inode(uint64_t nid) const {
  if (nid > file_size_ / kInodeSlotSize) {
    return corrupt(name_, "nid " + std::to_string(nid) + " out of range");
  }
  InodeInfo info;
  info.nid = nid;
  info.offset = uint64_t{super_.meta_blkaddr} * super_.block_size + nid * kInodeSlotSize;
  InodeExtended raw{};
  auto raw_bytes = std::as_writable_bytes(std::span(&raw, 1));
  VMI_CHECK(read_at(info.offset, raw_bytes.first(sizeof(InodeCompact)), "inode"));
  if (raw.format & ~kInodeFormatAllBits) {
    return corrupt(name_, "inode " + std::to_string(nid) + " has unsupported format bits");
  }
  info.extended = raw.format & kInodeVersionExtended;
  info.layout = static_cast<uint8_t>(raw.format >> 1);
  if (info.extended) {
    VMI_CHECK(read_at(info.offset, raw_bytes, "inode"));
    parse_extended(raw, info);
  } else {
    InodeCompact c;
    std::memcpy(&c, &raw, sizeof c);
    parse_compact(c, super_, info);
  }
  std::optional<tree::FileType> type = file_type_from_mode(raw.mode);
  if (!type) return corrupt(name_, "inode " + std::to_string(nid) + " has a bogus mode");
  info.type = *type;
  info.mode = raw.mode & 07777;
  info.xattr_size = xattr_ibody_size_from_icount(raw.xattr_icount);
  if (info.type == tree::FileType::kCharDevice || info.type == tree::FileType::kBlockDevice) {
    decode_dev(info.raw_blkaddr, info.rdev_major, info.rdev_minor);
  }
  info.inline_offset = info.offset + (info.extended ? 64 : 32) + info.xattr_size;
  VMI_CHECK(check_data(info));
  return info;
}

// Maps the content as the kernel does: FLAT_PLAIN has every byte in blocks from
// raw_blkaddr; FLAT_INLINE all but the last block, which follows the xattrs and
// must not cross a block boundary.
Status ImageReader::check_data(InodeInfo& info) const {
  std::string what = "inode " + std::to_string(info.nid);
  bool has_data = info.type == tree::FileType::kRegular ||
                  info.type == tree::FileType::kDirectory || info.type == tree::FileType::kSymlink;
  if (!has_data || info.size == 0) {
    if (info.inline_offset > file_size_) return corrupt(name_, what + " lies past the image end");
    return {};
  }
  uint64_t bs = super_.block_size;
  uint64_t blocks = div_round_up(info.size, bs);
  if (info.layout == kLayoutFlatPlain) {
    if (info.raw_blkaddr == kNullAddr) return corrupt(name_, what + " is a sparse (hole) inode");
    info.body_length = info.size;
  } else if (info.layout == kLayoutFlatInline) {
    info.body_length = (blocks - 1) * bs;
    info.inline_length = static_cast<uint32_t>(info.size - info.body_length);
    if (info.inline_offset % bs + info.inline_length > bs ||
        info.inline_offset + info.inline_length > file_size_) {
      return corrupt(name_, what + " has inline data crossing a block boundary or the image end");
    }
  } else if (info.layout == kLayoutCompressedFull || info.layout == kLayoutCompressedCompact) {
    return corrupt(name_, what + " is compressed, which is not supported");
  } else {
    return corrupt(name_, what + " has unsupported data layout " + std::to_string(info.layout));
  }
  uint64_t body_start = uint64_t{info.raw_blkaddr} * bs;
  if (info.body_length > 0 && (info.raw_blkaddr >= super_.blocks || body_start > file_size_ ||
                               info.body_length > file_size_ - body_start)) {
    return corrupt(name_, what + " has data blocks outside the image");
  }
  return {};
}

Status ImageReader::read(const InodeInfo& info, uint64_t offset, std::span<std::byte> out) const {
  if (offset > info.size || out.size() > info.size - offset) {
    return corrupt(name_, "read past the end of inode " + std::to_string(info.nid));
  }
  uint64_t body_start = uint64_t{info.raw_blkaddr} * super_.block_size;
  if (offset < info.body_length) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(out.size(), info.body_length - offset));
    VMI_CHECK(read_at(body_start + offset, out.first(n), "file data"));
    out = out.subspan(n);
    offset += n;
  }
  if (out.empty()) return {};
  return read_at(info.inline_offset + (offset - info.body_length), out, "inline data");
}

Result<tree::Xattr> ImageReader::shared_xattr(uint32_t id) const {
  uint64_t at = uint64_t{super_.xattr_blkaddr} * super_.block_size + uint64_t{id} * 4;
  XattrEntry e;
  VMI_CHECK(read_at(at, std::as_writable_bytes(std::span(&e, 1)), "shared xattr"));
  std::vector<std::byte> buf(sizeof e + e.name_len + e.value_size);
  VMI_CHECK(read_at(at, buf, "shared xattr"));
  VMI_TRY(auto entry, decode_xattr_entry(buf));
  return std::move(entry.first);
}

Result<std::vector<tree::Xattr>> ImageReader::xattrs(const InodeInfo& info) const {
  tree::Inode holder;  // set_xattr keeps them sorted and unique
  if (info.xattr_size == 0) return holder.xattrs;
  std::vector<std::byte> ibody(info.xattr_size);
  VMI_CHECK(read_at(info.offset + (info.extended ? 64 : 32), ibody, "inline xattrs"));
  XattrIbodyHeader h;
  std::memcpy(&h, ibody.data(), sizeof h);
  size_t pos = sizeof h + 4u * h.shared_count;
  if (pos > ibody.size()) return corrupt(name_, "too many shared xattrs");
  for (uint32_t i = 0; i < h.shared_count; ++i) {
    uint32_t id;
    std::memcpy(&id, ibody.data() + sizeof h + 4 * i, 4);
    VMI_TRY(tree::Xattr x, shared_xattr(id));
    holder.set_xattr(std::move(x.name), std::move(x.value));
  }
  while (pos < ibody.size()) {
    Result<std::pair<tree::Xattr, uint32_t>> e = decode_xattr_entry(std::span(ibody).subspan(pos));
    if (!e) return e.error().context(name_ + ": inode " + std::to_string(info.nid));
    holder.set_xattr(std::move(e->first.name), std::move(e->first.value));
    pos += e->second;
  }
  return holder.xattrs;
}

Result<std::vector<DirEntry>> ImageReader::read_dir(const InodeInfo& info) const {
  if (info.type != tree::FileType::kDirectory) {
    return corrupt(name_, "inode " + std::to_string(info.nid) + " is not a directory");
  }
  std::vector<DirEntry> entries;
  uint64_t bs = super_.block_size;
  std::vector<std::byte> block(bs);
  for (uint64_t off = 0; off < info.size; off += bs) {
    std::span<std::byte> b = std::span(block).first(std::min<uint64_t>(bs, info.size - off));
    VMI_CHECK(read(info, off, b));
    Status s = decode_dir_block(b, entries);
    if (!s) {
      return s.error().context(name_ + ": directory inode " + std::to_string(info.nid) + " block " +
                               std::to_string(off / bs));
    }
  }
  return entries;
}

namespace {

// Builds the tree breadth-first; a nid seen again is a hardlink (directories may
// not be, which also stops loops).
class TreeBuilder {
 public:
  TreeBuilder(const ImageReader& r, uint32_t source, const std::string& name)
      : r_(r), source_(source), name_(name) {}

  Result<tree::Tree> run() {
    VMI_TRY(InodeInfo root, r_.inode(r_.super().root_nid));
    if (root.type != tree::FileType::kDirectory) return err("the root inode is not a directory");
    VMI_CHECK(fill(root, tree_.inode(tree_.root())));
    by_nid_[root.nid] = tree_.root();
    std::deque<std::pair<InodeInfo, tree::InodeId>> queue{{root, tree_.root()}};
    while (!queue.empty()) {
      auto [dir, id] = std::move(queue.front());
      queue.pop_front();
      VMI_TRY(std::vector<DirEntry> entries, r_.read_dir(dir));
      for (DirEntry& e : entries) VMI_CHECK(add_entry(e, id, queue));
    }
    return std::move(tree_);
  }

 private:
  Error err(const std::string& what) const {
    return Error(ErrorKind::kLayerFs, name_ + ": " + what);
  }

  Status add_entry(DirEntry& e, tree::InodeId dir,
                   std::deque<std::pair<InodeInfo, tree::InodeId>>& queue) {
    if (e.name == "." || e.name == "..") return {};
    if (e.name.find('/') != std::string::npos || e.name.find('\0') != std::string::npos) {
      return err("invalid name in a directory");
    }
    tree::InodeId child;
    auto it = by_nid_.find(e.nid);
    if (it != by_nid_.end()) {
      child = it->second;
      if (tree_.inode(child).is_dir()) return err("directory \"" + e.name + "\" has two names");
    } else {
      VMI_TRY(InodeInfo info, r_.inode(e.nid));
      tree::Inode node;
      VMI_CHECK(fill(info, node));
      child = tree_.add(std::move(node));
      by_nid_[e.nid] = child;
      if (info.type == tree::FileType::kDirectory) queue.emplace_back(info, child);
    }
    auto [pos, inserted] = tree_.inode(dir).children.emplace(std::move(e.name), child);
    if (!inserted) return err("duplicate name \"" + pos->first + "\" in a directory");
    return {};
  }

  Status fill(const InodeInfo& info, tree::Inode& node) {
    node.type = info.type;
    node.mode = info.mode;
    node.uid = info.uid;
    node.gid = info.gid;
    node.mtime_sec = info.mtime_sec;
    node.mtime_nsec = info.mtime_nsec;
    node.rdev_major = info.rdev_major;
    node.rdev_minor = info.rdev_minor;
    VMI_TRY(node.xattrs, r_.xattrs(info));
    if (info.type == tree::FileType::kSymlink) {
      if (info.size == 0 || info.size > kMaxSymlink) {
        return err("inode " + std::to_string(info.nid) + ": symlink target of " +
                   std::to_string(info.size) + " bytes");
      }
      node.symlink_target.resize(info.size);
      VMI_CHECK(r_.read(info, 0, std::as_writable_bytes(std::span(node.symlink_target))));
    } else if (info.type == tree::FileType::kRegular) {
      node.data.size = info.size;
      node.data.body = tree::Extent{source_, uint64_t{info.raw_blkaddr} * r_.super().block_size,
                                    info.body_length};
      node.data.tail = tree::Extent{source_, info.inline_offset, info.inline_length};
    }
    return {};
  }

  const ImageReader& r_;
  uint32_t source_;
  const std::string& name_;
  tree::Tree tree_;
  std::unordered_map<uint64_t, tree::InodeId> by_nid_;
};

}  // namespace

Result<tree::Tree> read_image(int fd, uint32_t source_id, const std::string& name,
                              std::optional<uint64_t> end) {
  VMI_TRY(ImageReader r, ImageReader::open(fd, name, end));
  return TreeBuilder(r, source_id, name).run();
}

}  // namespace vmimage::erofs
