// ext4 directory blocks. A directory whose entries fit one block is a single
// linear block; a larger one becomes an htree (dir_index): a dx_root block,
// optionally one level of dx_node blocks, and leaf blocks whose entries are
// grouped by half-MD4 name hash. Leaves and dx blocks leave room for the
// metadata_csum tails, which libext2fs fills in when the blocks are written.
// Format: ext4 "Hash Tree Directories" and "Linear (Classic) Directories".
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "vmimage/result.h"

namespace vmimage::ext4 {

struct DirEntry {
  std::string name;
  uint32_t ino = 0;
  uint8_t file_type = 0;  // EXT2_FT_*
};

class DirLayout {
 public:
  // Plans the blocks of directory `self` (parent `parent`) holding `entries`
  // (any order; names must be valid: 1..255 bytes, no '/' or NUL, not "." or "..").
  static Result<DirLayout> plan(uint32_t self, uint32_t parent, std::vector<DirEntry> entries,
                                const std::array<uint32_t, 4>& hash_seed);

  size_t block_count() const { return 1 + nodes_ + leaves(); }
  bool indexed() const { return indexed_; }
  // Renders logical block i (< block_count()) into out, checksum fields zero.
  void render(size_t i, std::span<unsigned char, 4096> out) const;
  // A leaf block without entries (room for later ones, as in lost+found).
  static void render_empty(std::span<unsigned char, 4096> out);

 private:
  struct Item {
    DirEntry entry;
    uint32_t hash = 0;
    uint32_t minor_hash = 0;
  };
  size_t leaves() const { return indexed_ ? leaf_starts_.size() : 0; }
  uint32_t leaf_hash(size_t leaf) const;
  void render_linear(std::span<unsigned char, 4096> out) const;
  void render_root(std::span<unsigned char, 4096> out) const;
  void render_node(size_t node, std::span<unsigned char, 4096> out) const;
  void render_leaf(size_t leaf, std::span<unsigned char, 4096> out) const;
  void pack_leaves();

  uint32_t self_ = 0;
  uint32_t parent_ = 0;
  bool indexed_ = false;
  std::vector<Item> items_;          // sorted by hash when indexed
  std::vector<size_t> leaf_starts_;  // first item of each leaf
  size_t nodes_ = 0;                 // dx_node blocks (0 or 1 level)
};

}  // namespace vmimage::ext4
