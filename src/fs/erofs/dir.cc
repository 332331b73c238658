// Directory block packing, encoding and decoding (layout: fs/erofs/erofs_fs.h,
// struct erofs_dirent; reading rules: fs/erofs/dir.c erofs_fill_dentries).
#include "fs/erofs/dir.h"

#include <algorithm>
#include <cstring>

#include "fs/erofs/format.h"

namespace vmimage::erofs {

std::vector<DirEntryRef> sorted_dir_entries(const tree::Tree& tree, tree::InodeId dir,
                                            tree::InodeId parent) {
  const auto& children = tree.inode(dir).children;
  std::vector<DirEntryRef> entries;
  entries.reserve(children.size() + 2);
  // children is a std::map<std::string>, already in bytewise (unsigned) order;
  // "." and ".." are merged in where they belong.
  DirEntryRef dots[2] = {{".", dir}, {"..", parent}};
  size_t next_dot = 0;
  for (const auto& [name, id] : children) {
    while (next_dot < 2 && dots[next_dot].name < std::string_view(name)) {
      entries.push_back(dots[next_dot++]);
    }
    entries.push_back({name, id});
  }
  while (next_dot < 2) entries.push_back(dots[next_dot++]);
  return entries;
}

DirPacking pack_dir(const std::vector<DirEntryRef>& entries, uint32_t block_size) {
  DirPacking packing;
  uint64_t used = block_size;  // forces a first block
  for (size_t i = 0; i < entries.size(); ++i) {
    uint64_t need = sizeof(Dirent) + entries[i].name.size();
    if (used + need > block_size) {
      packing.first.push_back(i);
      used = 0;
    }
    used += need;
  }
  packing.first.push_back(entries.size());
  uint64_t blocks = packing.first.size() - 1;
  packing.size = (blocks - 1) * block_size + used;
  return packing;
}

void encode_dir(const std::vector<DirEntryRef>& entries, const DirPacking& packing,
                uint32_t block_size, const std::function<uint64_t(tree::InodeId)>& nid_of,
                const std::function<uint8_t(tree::InodeId)>& type_of, std::span<std::byte> out) {
  for (size_t b = 0; b + 1 < packing.first.size(); ++b) {
    std::byte* block = out.data() + b * block_size;
    size_t begin = packing.first[b];
    size_t end = packing.first[b + 1];
    size_t nameoff = (end - begin) * sizeof(Dirent);
    for (size_t i = begin; i < end; ++i) {
      Dirent d{nid_of(entries[i].id), static_cast<uint16_t>(nameoff), type_of(entries[i].id), 0};
      std::memcpy(block + (i - begin) * sizeof(Dirent), &d, sizeof d);
      std::memcpy(block + nameoff, entries[i].name.data(), entries[i].name.size());
      nameoff += entries[i].name.size();
    }
  }
}

Status decode_dir_block(std::span<const std::byte> block, std::vector<DirEntry>& out) {
  if (block.size() < sizeof(Dirent)) {
    return Error(ErrorKind::kLayerFs, "directory block of " + std::to_string(block.size()) +
                                          " bytes is too short for an entry");
  }
  Dirent first;
  std::memcpy(&first, block.data(), sizeof first);
  size_t count = first.nameoff / sizeof(Dirent);
  if (first.nameoff % sizeof(Dirent) != 0 || count == 0 || first.nameoff >= block.size()) {
    return Error(ErrorKind::kLayerFs,
                 "directory block has a bad first name offset " + std::to_string(first.nameoff));
  }
  for (size_t i = 0; i < count; ++i) {
    Dirent d;
    std::memcpy(&d, block.data() + i * sizeof(Dirent), sizeof d);
    size_t end = block.size();
    if (i + 1 < count) {
      Dirent next;
      std::memcpy(&next, block.data() + (i + 1) * sizeof(Dirent), sizeof next);
      end = next.nameoff;
    }
    if (d.nameoff < first.nameoff || end > block.size() || d.nameoff >= end) {
      return Error(ErrorKind::kLayerFs, "directory entry " + std::to_string(i) +
                                            " has a bad name offset " + std::to_string(d.nameoff));
    }
    const char* name = reinterpret_cast<const char*>(block.data()) + d.nameoff;
    size_t len = end - d.nameoff;
    if (i + 1 == count) len = strnlen(name, len);  // the last name ends at the first NUL
    if (len == 0 || len > kNameMax) {
      return Error(ErrorKind::kLayerFs, "directory entry " + std::to_string(i) + " has a name of " +
                                            std::to_string(len) + " bytes");
    }
    out.push_back(DirEntry{std::string(name, len), d.nid, d.file_type});
  }
  return {};
}

}  // namespace vmimage::erofs
