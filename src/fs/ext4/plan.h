// Planning an ext4 image before writing it: inode numbers, the directory hash
// seed, how many blocks the content takes, and the filesystem geometry
// (size, inode count) that holds it.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "fs/ext4/dir_layout.h"
#include "fs/ext4/writer.h"
#include "tree/data_sink.h"
#include "tree/tree.h"
#include "vmimage/result.h"

namespace vmimage::ext4 {

struct TreePlan {
  std::vector<tree::InodeId> order;      // reachable inodes, breadth-first, each once
  std::vector<uint32_t> ino;             // ext4 inode number by InodeId (0: unreachable)
  std::vector<uint32_t> links;           // link counts by InodeId
  std::vector<tree::InodeId> parent;     // where each inode was first reached
  std::vector<const std::string*> name;  // its name there (nullptr for the root)
  bool lost_found = false;               // the writer adds /lost+found (the tree has none)
  uint32_t lost_found_ino = 0;
  uint32_t last_ino = 0;        // inode numbers 1..last_ino are all used
  std::string metadata_digest;  // tree::metadata_digest(), raw bytes
  std::array<uint32_t, 4> hash_seed{};
};

Result<TreePlan> plan_tree(const tree::Tree& tree, const Ext4Options& options);

// "/a/b" for error messages (the first name the inode was reached by).
std::string path_of(const tree::Tree& tree, const TreePlan& plan, tree::InodeId id);

// The entries of directory `dir` as they go on disk (plus lost+found in the root).
std::vector<DirEntry> dir_entries(const tree::Tree& tree, const TreePlan& plan, tree::InodeId dir);

constexpr uint32_t kLostFoundBlocks = 4;

// Blocks the content needs beyond the filesystem's own metadata: file data
// (holes in the sources excluded), extent trees, directories, long symlinks,
// xattr blocks, lost+found, plus a safety margin. An upper bound.
Result<uint64_t> content_blocks(const tree::Tree& tree, const tree::DataSources& sources,
                                const TreePlan& plan);

struct Geometry {
  uint64_t blocks = 0;      // filesystem blocks
  uint64_t inodes = 0;      // inodes to ask for
  uint64_t min_blocks = 0;  // the smallest filesystem that fits
  uint64_t file_size = 0;   // bytes of the image file
  bool auto_sized = false;
};

// Picks the size (options.size_bytes, or automatic) and inode count; fails
// with the size needed when options.size_bytes is too small.
Result<Geometry> choose_geometry(uint64_t content, const TreePlan& plan,
                                 const Ext4Options& options);

// The journal for a filesystem of `blocks` with `free_blocks` left after the
// content: mke2fs's default size for that filesystem, halved while it does
// not fit, never below kMinJournalBlocks (which sizing always reserves).
constexpr uint64_t kMinJournalBlocks = 1024;
uint64_t journal_blocks(uint64_t blocks, uint64_t free_blocks);

}  // namespace vmimage::ext4
