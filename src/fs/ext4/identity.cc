// Content-derived identity for ext4 images (see identity.h).
#include "fs/ext4/identity.h"

#include <ext2fs/ext2fs.h>

#include <algorithm>
#include <cstring>

#include "util/file.h"

namespace vmimage::ext4 {
namespace {

// Appends fixed-width little-endian integers and length-prefixed strings, so
// distinct trees cannot serialize to the same byte stream.
class Feed {
 public:
  explicit Feed(io::Sha256& hash) : hash_(hash) {}
  void u64(uint64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
    hash_.update(std::string_view(reinterpret_cast<const char*>(b), 8));
  }
  void str(std::string_view s) {
    u64(s.size());
    hash_.update(s);
  }

 private:
  io::Sha256& hash_;
};

void feed_inode(Feed& f, const tree::Inode& node, const std::vector<uint32_t>& index) {
  f.u64(static_cast<uint64_t>(node.type));
  f.u64(node.mode);
  f.u64(node.uid);
  f.u64(node.gid);
  f.u64(static_cast<uint64_t>(node.mtime_sec));
  f.u64(node.mtime_nsec);
  f.u64(node.rdev_major);
  f.u64(node.rdev_minor);
  f.str(node.symlink_target);
  f.u64(node.xattrs.size());
  for (const tree::Xattr& x : node.xattrs) {
    f.str(x.name);
    f.str(x.value);
  }
  f.u64(node.type == tree::FileType::kRegular ? node.data.size : 0);
  f.u64(node.children.size());
  for (const auto& [name, child] : node.children) {
    f.str(name);
    f.u64(index[child]);
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static_assert(sizeof(ext2_super_block) == 1024);

void store_le32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

}  // namespace

std::string finish_raw(io::Sha256& hash) {
  std::string hex = hash.finish_digest().substr(7);  // drop "sha256:"
  std::string raw(hex.size() / 2, '\0');
  for (size_t i = 0; i < raw.size(); ++i) {
    raw[i] = static_cast<char>(hex_value(hex[2 * i]) * 16 + hex_value(hex[2 * i + 1]));
  }
  return raw;
}

std::string tree_metadata_digest(const tree::Tree& tree, const std::vector<tree::InodeId>& order) {
  // Children are named by their position in `order`, not by InodeId, so the
  // digest does not depend on how the tree was built.
  std::vector<uint32_t> index(tree.size(), UINT32_MAX);
  for (size_t i = 0; i < order.size(); ++i) index[order[i]] = static_cast<uint32_t>(i);
  io::Sha256 hash;
  Feed feed(hash);
  feed.str("vmimage ext4 tree v1");
  feed.u64(order.size());
  for (tree::InodeId id : order) feed_inode(feed, tree.inode(id), index);
  return finish_raw(hash);
}

std::array<uint8_t, 16> derive16(std::string_view purpose, const std::vector<std::string>& parts) {
  io::Sha256 hash;
  Feed feed(hash);
  feed.str(purpose);
  for (const std::string& p : parts) feed.str(p);
  std::string raw = finish_raw(hash);
  std::array<uint8_t, 16> out{};
  std::memcpy(out.data(), raw.data(), out.size());
  return out;
}

Uuid as_uuid(std::array<uint8_t, 16> bytes) {
  bytes[6] = static_cast<uint8_t>((bytes[6] & 0x0f) | 0x80);
  bytes[8] = static_cast<uint8_t>((bytes[8] & 0x3f) | 0x80);
  return bytes;
}

std::string format_uuid(const Uuid& uuid) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < uuid.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[uuid[i] >> 4];
    out += kHex[uuid[i] & 15];
  }
  return out;
}

Result<Uuid> parse_uuid(std::string_view text) {
  Error bad(ErrorKind::kUsage, "invalid UUID \"" + std::string(text) +
                                   "\": expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
  if (text.size() != 36) return bad;
  Uuid out{};
  size_t nibble = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return bad;
      continue;
    }
    int v = hex_value(text[i]);
    if (v < 0) return bad;
    out[nibble / 2] = static_cast<uint8_t>(out[nibble / 2] | (nibble % 2 == 0 ? v << 4 : v));
    ++nibble;
  }
  return out;
}

Status set_superblock_write_time(int fd, const std::vector<uint64_t>& offsets, int64_t timestamp,
                                 const std::string& what) {
  uint64_t t = static_cast<uint64_t>(std::max<int64_t>(timestamp, 0));
  for (uint64_t offset : offsets) {
    ext2_super_block sb;
    auto bytes = std::as_writable_bytes(std::span(&sb, 1));
    VMI_CHECK(pread_exact(fd, bytes, offset, what));
    if (sb.s_magic != EXT2_SUPER_MAGIC) {
      return Error(ErrorKind::kCreateExt4,
                   what + ": no superblock at offset " + std::to_string(offset));
    }
    sb.s_wtime = static_cast<uint32_t>(t);
    sb.s_wtime_hi = static_cast<uint8_t>(t >> 32);
    // The superblock checksum is crc32c(~0, bytes before s_checksum).
    constexpr size_t kCsumOffset = offsetof(ext2_super_block, s_checksum);
    uint32_t crc = ext2fs_crc32c_le(~0U, reinterpret_cast<unsigned char*>(&sb), kCsumOffset);
    store_le32(reinterpret_cast<unsigned char*>(&sb) + kCsumOffset, crc);
    VMI_CHECK(pwrite_all(fd, bytes, offset, what));
  }
  return {};
}

}  // namespace vmimage::ext4
