// Directory block planning and rendering (see dir_layout.h).
#include "fs/ext4/dir_layout.h"

#include <ext2fs/ext2fs.h>

#include <algorithm>
#include <cstring>

namespace vmimage::ext4 {
namespace {

constexpr size_t kBlock = 4096;
constexpr size_t kTailSize = 12;                   // ext2_dir_entry_tail
constexpr size_t kLeafSpace = kBlock - kTailSize;  // room for entries in a leaf
constexpr size_t kDxTailSize = 8;                  // ext2_dx_tail
constexpr size_t kRootHeader = 12 + 12 + 8;        // ".", "..", dx_root_info
constexpr size_t kNodeHeader = 8;                  // empty dirent spanning the block
constexpr uint16_t kRootLimit = (kBlock - kRootHeader - kDxTailSize) / 8;  // 507
constexpr uint16_t kNodeLimit = (kBlock - kNodeHeader - kDxTailSize) / 8;  // 510

size_t rec_len(size_t name_len) {
  return (8 + name_len + 3) & ~size_t{3};
}

void put16(unsigned char* p, uint32_t v) {
  p[0] = static_cast<unsigned char>(v);
  p[1] = static_cast<unsigned char>(v >> 8);
}
void put32(unsigned char* p, uint32_t v) {
  put16(p, v);
  put16(p + 2, v >> 16);
}

void put_dirent(unsigned char* p, uint32_t ino, size_t len, std::string_view name, uint8_t type) {
  put32(p, ino);
  put16(p + 4, static_cast<uint32_t>(len));
  p[6] = static_cast<unsigned char>(name.size());
  p[7] = type;
  std::memcpy(p + 8, name.data(), name.size());
}

void put_tail(unsigned char* block) {
  unsigned char* t = block + kLeafSpace;
  put16(t + 4, kTailSize);
  t[7] = 0xDE;  // fake file type marking the checksum tail
}

// dx count/limit followed by (hash, block) pairs; entry 0 has no hash.
void put_dx_entries(unsigned char* p, uint16_t limit, size_t count, uint32_t first_block,
                    const auto& hash_of) {
  put16(p, limit);
  put16(p + 2, static_cast<uint32_t>(count));
  put32(p + 4, first_block);
  for (size_t i = 1; i < count; ++i) {
    put32(p + 8 * i, hash_of(i));
    put32(p + 8 * i + 4, first_block + static_cast<uint32_t>(i));
  }
}

Status check_name(const std::string& name) {
  bool bad = name.empty() || name.size() > EXT2_NAME_LEN || name == "." || name == ".." ||
             name.find('/') != std::string::npos || name.find('\0') != std::string::npos;
  if (!bad) return {};
  return Error(ErrorKind::kCreateExt4, "invalid directory entry name \"" + name +
                                           "\" (ext4 names are 1..255 bytes without '/' or NUL)");
}

}  // namespace

Result<DirLayout> DirLayout::plan(uint32_t self, uint32_t parent, std::vector<DirEntry> entries,
                                  const std::array<uint32_t, 4>& hash_seed) {
  DirLayout d;
  d.self_ = self;
  d.parent_ = parent;
  size_t total = 12 + 12;
  d.items_.reserve(entries.size());
  for (DirEntry& e : entries) {
    VMI_CHECK(check_name(e.name));
    total += rec_len(e.name.size());
    d.items_.push_back(Item{std::move(e), 0, 0});
  }
  if (total <= kLeafSpace) return d;
  d.indexed_ = true;
  for (Item& it : d.items_) {
    errcode_t code = ext2fs_dirhash2(EXT2_HASH_HALF_MD4, it.entry.name.data(),
                                     static_cast<int>(it.entry.name.size()), nullptr, 0,
                                     hash_seed.data(), &it.hash, &it.minor_hash);
    if (code != 0) return Error(ErrorKind::kCreateExt4, "hashing directory entry " + it.entry.name);
  }
  std::sort(d.items_.begin(), d.items_.end(), [](const Item& a, const Item& b) {
    if (a.hash != b.hash) return a.hash < b.hash;
    if (a.minor_hash != b.minor_hash) return a.minor_hash < b.minor_hash;
    return a.entry.name < b.entry.name;
  });
  d.pack_leaves();
  if (d.leaf_starts_.size() > kRootLimit) {
    d.nodes_ = (d.leaf_starts_.size() + kNodeLimit - 1) / kNodeLimit;
    if (d.nodes_ > kRootLimit) {
      return Error(ErrorKind::kCreateExt4, "directory with " + std::to_string(d.items_.size()) +
                                               " entries is too large for a two-level htree");
    }
  }
  return d;
}

void DirLayout::pack_leaves() {
  size_t used = kLeafSpace;  // forces a first leaf
  for (size_t i = 0; i < items_.size(); ++i) {
    size_t len = rec_len(items_[i].entry.name.size());
    if (used + len > kLeafSpace) {
      leaf_starts_.push_back(i);
      used = 0;
    }
    used += len;
  }
}

uint32_t DirLayout::leaf_hash(size_t leaf) const {
  size_t first = leaf_starts_[leaf];
  uint32_t hash = items_[first].hash;
  // Equal hashes continuing from the previous leaf set the low bit, telling
  // lookups to go on into this leaf.
  if (first > 0 && items_[first - 1].hash == hash) hash |= 1;
  return hash;
}

void DirLayout::render(size_t i, std::span<unsigned char, 4096> out) const {
  std::memset(out.data(), 0, out.size());
  if (!indexed_) return render_linear(out);
  if (i == 0) return render_root(out);
  if (i <= nodes_) return render_node(i - 1, out);
  render_leaf(i - 1 - nodes_, out);
}

void DirLayout::render_empty(std::span<unsigned char, 4096> out) {
  std::memset(out.data(), 0, out.size());
  put16(out.data() + 4, kLeafSpace);
  put_tail(out.data());
}

void DirLayout::render_linear(std::span<unsigned char, 4096> out) const {
  unsigned char* p = out.data();
  put_dirent(p, self_, 12, ".", EXT2_FT_DIR);
  size_t off = 12;
  size_t last = off;
  put_dirent(p + off, parent_, 12, "..", EXT2_FT_DIR);
  off += 12;
  for (const Item& it : items_) {
    size_t len = rec_len(it.entry.name.size());
    last = off;
    put_dirent(p + off, it.entry.ino, len, it.entry.name, it.entry.file_type);
    off += len;
  }
  put16(p + last + 4, static_cast<uint32_t>(kLeafSpace - last));  // last entry takes the slack
  put_tail(p);
}

void DirLayout::render_root(std::span<unsigned char, 4096> out) const {
  unsigned char* p = out.data();
  put_dirent(p, self_, 12, ".", EXT2_FT_DIR);
  put_dirent(p + 12, parent_, kBlock - 12, "..", EXT2_FT_DIR);
  // dx_root_info: reserved_zero, hash_version, info_length, indirect_levels, flags.
  p[28] = EXT2_HASH_HALF_MD4;
  p[29] = 8;
  p[30] = nodes_ > 0 ? 1 : 0;
  size_t count = nodes_ > 0 ? nodes_ : leaf_starts_.size();
  put_dx_entries(p + kRootHeader, kRootLimit, count, 1,
                 [&](size_t i) { return leaf_hash(nodes_ > 0 ? i * kNodeLimit : i); });
}

void DirLayout::render_node(size_t node, std::span<unsigned char, 4096> out) const {
  unsigned char* p = out.data();
  put16(p + 4, kBlock);  // an empty entry spanning the block hides the index
  size_t first = node * kNodeLimit;
  size_t count = std::min<size_t>(kNodeLimit, leaf_starts_.size() - first);
  uint32_t first_block = static_cast<uint32_t>(1 + nodes_ + first);
  put_dx_entries(p + kNodeHeader, kNodeLimit, count, first_block,
                 [&](size_t i) { return leaf_hash(first + i); });
}

void DirLayout::render_leaf(size_t leaf, std::span<unsigned char, 4096> out) const {
  unsigned char* p = out.data();
  size_t begin = leaf_starts_[leaf];
  size_t end = leaf + 1 < leaf_starts_.size() ? leaf_starts_[leaf + 1] : items_.size();
  size_t off = 0;
  size_t last = 0;
  for (size_t i = begin; i < end; ++i) {
    const DirEntry& e = items_[i].entry;
    size_t len = rec_len(e.name.size());
    last = off;
    put_dirent(p + off, e.ino, len, e.name, e.file_type);
    off += len;
  }
  put16(p + last + 4, static_cast<uint32_t>(kLeafSpace - last));
  put_tail(p);
}

}  // namespace vmimage::ext4
