// EROFS directories (fs/erofs/dir.c, namei.c): blocks of 12-byte dirents followed by
// their names (not NUL-terminated, zero padding after the last), entries sorted
// bytewise across all blocks, "." and ".." included, so lookups can binary-search.
// The last block is cut short: the directory's size ends at its last name.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tree/tree.h"
#include "vmimage/result.h"

namespace vmimage::erofs {

struct DirEntryRef {
  std::string_view name;
  tree::InodeId id;
};

// The entries of `dir` in on-disk order, "." and ".." (pointing at `parent`) included.
std::vector<DirEntryRef> sorted_dir_entries(const tree::Tree& tree, tree::InodeId dir,
                                            tree::InodeId parent);

// How entries fall into blocks: block b holds entries [first[b], first[b + 1]).
struct DirPacking {
  std::vector<size_t> first;  // one per block, plus the end index
  uint64_t size = 0;          // the directory's i_size
};
DirPacking pack_dir(const std::vector<DirEntryRef>& entries, uint32_t block_size);

// Encodes the whole directory (packing.size bytes) into `out`.
// nid_of/type_of map an entry's InodeId to its nid and dirent file type.
void encode_dir(const std::vector<DirEntryRef>& entries, const DirPacking& packing,
                uint32_t block_size, const std::function<uint64_t(tree::InodeId)>& nid_of,
                const std::function<uint8_t(tree::InodeId)>& type_of, std::span<std::byte> out);

struct DirEntry {
  std::string name;
  uint64_t nid = 0;
  uint8_t file_type = 0;
};
// Parses one directory block (`block` is block_size bytes, or the shorter last
// block) and appends its entries; validates offsets and name lengths.
Status decode_dir_block(std::span<const std::byte> block, std::vector<DirEntry>& out);

}  // namespace vmimage::erofs
