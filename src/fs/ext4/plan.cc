// Image planning: inode numbering, content measurement and sizing (see plan.h).
#include "fs/ext4/plan.h"

#include <algorithm>
#include <cstring>
#include <deque>

#include "fs/ext4/extent_tree.h"
#include "fs/ext4/file_data.h"
#include "fs/ext4/format.h"
#include "fs/ext4/inode.h"
#include "io/identity.h"
#include "tree/digest.h"
#include "tree/storable.h"
#include "util/size.h"

namespace vmimage::ext4 {
namespace {

constexpr uint64_t kAlignBlocks = 256;  // automatic sizes are whole MiB
// libext2fs makes no journal for smaller filesystems (as mke2fs).
constexpr uint64_t kMinJournalFsBlocks = 2048;

// Breadth-first from the root with children by name: the same order as
// tree::reachable_inodes, also recording where each inode was first found.
void walk(const tree::Tree& tree, TreePlan& plan) {
  plan.parent.assign(tree.size(), tree::kNoInode);
  plan.name.assign(tree.size(), nullptr);
  std::deque<tree::InodeId> queue{tree.root()};
  plan.parent[tree.root()] = tree.root();
  while (!queue.empty()) {
    tree::InodeId id = queue.front();
    queue.pop_front();
    plan.order.push_back(id);
    for (const auto& [name, child] : tree.inode(id).children) {
      if (plan.parent[child] != tree::kNoInode) continue;
      plan.parent[child] = id;
      plan.name[child] = &name;
      queue.push_back(child);
    }
  }
}

Status check_inode(const tree::Tree& tree, const TreePlan& plan, tree::InodeId id) {
  const tree::Inode& node = tree.inode(id);
  if (!node.is_dir() && plan.links[id] > kMaxLinks) {
    return Error(ErrorKind::kCreateExt4, path_of(tree, plan, id) + " has " +
                                             std::to_string(plan.links[id]) +
                                             " hard links; ext4 allows 65000");
  }
  if (Status s = tree::check_storable(node); !s) {
    return std::move(s).error().context(path_of(tree, plan, id));
  }
  if (node.type == tree::FileType::kRegular && node.data.size > (uint64_t{1} << 44) - kBlockSize) {
    return Error(ErrorKind::kCreateExt4,
                 path_of(tree, plan, id) + " is larger than ext4's 16 TiB limit");
  }
  return {};
}

// Data blocks and extents a file needs at most: blocks touched by data
// regions of its sources, in maximal runs split at the 32768-block limit.
Result<uint64_t> file_blocks(const tree::DataSources& sources, const tree::Inode& node) {
  VMI_TRY(FileDataReader reader, FileDataReader::open(sources, node.data));
  auto extents_of = [](uint64_t run) { return (run + kMaxExtentLen - 1) / kMaxExtentLen; };
  uint64_t blocks = 0, extents = 0, run_len = 0, run_end = 0;
  uint64_t pos = 0;
  while (true) {
    VMI_TRY(uint64_t begin, reader.next_data(pos));
    if (begin >= reader.size()) break;
    VMI_TRY(uint64_t end, reader.data_end(begin));
    pos = std::max(end, begin + 1);
    uint64_t b0 = begin / kBlockSize, b1 = (end + kBlockSize - 1) / kBlockSize;
    if (run_len > 0 && b0 < run_end) b0 = run_end;  // a block shared with the last region
    if (b1 <= b0) continue;
    if (run_len > 0 && b0 != run_end) {
      extents += extents_of(run_len);
      run_len = 0;
    }
    run_len += b1 - b0;
    run_end = b1;
    blocks += b1 - b0;
  }
  extents += extents_of(run_len);
  return blocks + extent_tree_blocks(extents);
}

Result<uint64_t> inode_blocks(const tree::Tree& tree, const tree::DataSources& sources,
                              const TreePlan& plan, tree::InodeId id) {
  const tree::Inode& node = tree.inode(id);
  uint64_t blocks = xattrs_need_block(node.xattrs) ? 1 : 0;
  if (node.type == tree::FileType::kRegular) {
    Result<uint64_t> data = file_blocks(sources, node);
    if (!data) return std::move(data).error().context(path_of(tree, plan, id));
    blocks += *data;
  } else if (node.is_dir()) {
    Result<DirLayout> layout = DirLayout::plan(plan.ino[id], plan.ino[plan.parent[id]],
                                               dir_entries(tree, plan, id), plan.hash_seed);
    if (!layout) return std::move(layout).error().context(path_of(tree, plan, id));
    blocks += layout->block_count();
  } else if (node.type == tree::FileType::kSymlink &&
             node.symlink_target.size() > kMaxFastSymlink) {
    blocks += 1;
  }
  return blocks;
}

uint64_t round_up(uint64_t v, uint64_t to) {
  return (v + to - 1) / to * to;
}

// Blocks that must be free after formatting: content, the smallest journal
// (the writer makes it as large as mke2fs would when there is room, see
// journal_blocks) and slack for allocations split by group metadata. Using
// the smallest keeps "fits" monotonic in the size: mke2fs's journal sizes jump.
uint64_t blocks_wanted(uint64_t content, uint64_t blocks, const Ext4Options& options) {
  uint64_t journal = options.journal ? kMinJournalBlocks + 2 : 0;
  uint64_t flex_groups = blocks / (16 * 32768) + 1;
  return content + journal + 2 * flex_groups;
}

// 0 when the geometry holds the content, else roughly how many blocks to add.
Result<uint64_t> shortfall(uint64_t content, uint64_t blocks, uint64_t inodes,
                           const Ext4Options& options) {
  if (options.journal && blocks < kMinJournalFsBlocks) return kMinJournalFsBlocks - blocks;
  VMI_TRY(Capacity cap, probe_capacity(blocks, inodes));
  uint64_t want = blocks_wanted(content, cap.blocks, options);
  if (cap.free_blocks >= want && cap.inodes >= inodes) return 0;
  uint64_t short_by = want > cap.free_blocks ? want - cap.free_blocks : 0;
  // A trimmed last group comes back only when it grows past its metadata.
  short_by += blocks - cap.blocks;
  if (cap.inodes < inodes) short_by += (inodes - cap.inodes) * kInodeSize / kBlockSize + blocks / 8;
  return std::max<uint64_t>(short_by, 1);
}

Result<bool> fits(uint64_t content, uint64_t blocks, uint64_t inodes, const Ext4Options& options) {
  VMI_TRY(uint64_t short_by, shortfall(content, blocks, inodes, options));
  return short_by == 0;
}

// The smallest block count that fits: grow from a lower bound until one fits,
// then bisect between the last size that did not and the first that did.
Result<uint64_t> minimum_blocks(uint64_t content, uint64_t inodes, const Ext4Options& options) {
  uint64_t too_small = 0;
  uint64_t blocks = content + inodes * kInodeSize / kBlockSize + 64;
  for (int attempt = 0;; ++attempt) {
    if (attempt == 64 || blocks > kMaxBlocks) {
      return Error(ErrorKind::kCreateExt4, "no ext4 geometry fits " + std::to_string(content) +
                                               " blocks and " + std::to_string(inodes) + " inodes");
    }
    VMI_TRY(uint64_t short_by, shortfall(content, blocks, inodes, options));
    if (short_by == 0) break;
    too_small = blocks;
    blocks += std::max<uint64_t>(short_by + short_by / 64, 16);
  }
  while (blocks - too_small > 1) {
    uint64_t mid = too_small + (blocks - too_small) / 2;
    VMI_TRY(bool ok, fits(content, mid, inodes, options));
    (ok ? blocks : too_small) = mid;
  }
  return blocks;
}

}  // namespace

Result<TreePlan> plan_tree(const tree::Tree& tree, const Ext4Options& options) {
  TreePlan plan;
  walk(tree, plan);
  plan.links = tree::link_counts(tree);
  plan.ino.assign(tree.size(), 0);
  const tree::Inode& root = tree.inode(tree.root());
  plan.lost_found = options.lost_and_found && !root.children.contains("lost+found");
  uint32_t next = kFirstIno;
  if (plan.lost_found) plan.lost_found_ino = next++;
  for (tree::InodeId id : plan.order) {
    plan.ino[id] = id == tree.root() ? EXT2_ROOT_INO : next++;
    VMI_CHECK(check_inode(tree, plan, id));
  }
  if (plan.lost_found) plan.links[tree.root()] += 1;
  plan.last_ino = next - 1;
  plan.metadata_digest = tree::metadata_digest(tree);
  auto seed = io::derive16("ext4 directory hash seed", {plan.metadata_digest});
  std::memcpy(plan.hash_seed.data(), seed.data(), seed.size());
  return plan;
}

std::string path_of(const tree::Tree& tree, const TreePlan& plan, tree::InodeId id) {
  if (id == tree.root()) return "/";
  std::vector<const std::string*> parts;
  for (tree::InodeId at = id; at != tree.root() && plan.name[at] != nullptr; at = plan.parent[at]) {
    parts.push_back(plan.name[at]);
  }
  std::string path;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) path += "/" + **it;
  return path;
}

std::vector<DirEntry> dir_entries(const tree::Tree& tree, const TreePlan& plan, tree::InodeId dir) {
  std::vector<DirEntry> entries;
  const tree::Inode& node = tree.inode(dir);
  entries.reserve(node.children.size() + 1);
  if (dir == tree.root() && plan.lost_found) {
    entries.push_back(DirEntry{"lost+found", plan.lost_found_ino, EXT2_FT_DIR});
  }
  for (const auto& [name, child] : node.children) {
    entries.push_back(DirEntry{name, plan.ino[child], dirent_file_type(tree.inode(child).type)});
  }
  return entries;
}

Result<uint64_t> content_blocks(const tree::Tree& tree, const tree::DataSources& sources,
                                const TreePlan& plan) {
  uint64_t total = plan.lost_found ? kLostFoundBlocks : 0;
  for (tree::InodeId id : plan.order) {
    VMI_TRY(uint64_t blocks, inode_blocks(tree, sources, plan, id));
    total += blocks;
  }
  return total + 16 + total / 256;  // margin for estimates and split allocations
}

uint64_t journal_blocks(uint64_t blocks, uint64_t free_blocks) {
  int preferred = ext2fs_default_journal_size(blocks);
  uint64_t size = preferred > 0 ? static_cast<uint64_t>(preferred) : kMinJournalBlocks;
  // Halve until it fits beside the content, its extent tree and some slack.
  while (size > kMinJournalBlocks &&
         size + extent_tree_blocks(size / kMaxExtentLen + 8) + 64 > free_blocks) {
    size /= 2;
  }
  return std::max<uint64_t>(size, kMinJournalBlocks);
}

namespace {

// Inodes for a filesystem of `blocks`: the tree's, plus mke2fs's ratio over the
// space beyond the content so a writable disk can hold new files (when that
// still fits); a minimal image keeps little more than its tree uses.
Result<uint64_t> inodes_for(uint64_t content, uint64_t blocks, uint64_t tree_inodes,
                            const Ext4Options& options) {
  if (blocks <= content) return tree_inodes;
  uint64_t more = std::min<uint64_t>(tree_inodes + (blocks - content) * kBlockSize / kBytesPerInode,
                                     UINT32_MAX - 1);
  VMI_TRY(bool ok, fits(content, blocks, more, options));
  return ok ? more : tree_inodes;
}

// What statfs (df) will call available: the blocks left after the metadata,
// the content and the journal, less what ext4 holds back at mount for delayed
// allocation (2% of the blocks, at most 4096: ext4_calculate_resv_clusters).
// No blocks are reserved for root.
Result<uint64_t> available_blocks(uint64_t content, uint64_t blocks, uint64_t inodes,
                                  const Ext4Options& options) {
  VMI_TRY(Capacity cap, probe_capacity(blocks, inodes));
  if (cap.free_blocks <= content) return 0;
  uint64_t free = cap.free_blocks - content;
  uint64_t journal = 0;
  if (options.journal) {
    uint64_t size = journal_blocks(cap.blocks, free);
    journal = size + extent_tree_blocks(size / kMaxExtentLen + 8);
  }
  uint64_t held = journal + std::min<uint64_t>(cap.blocks / 50, 4096);
  return free > held ? free - held : 0;
}

}  // namespace

Result<Geometry> choose_geometry(uint64_t content, const TreePlan& plan,
                                 const Ext4Options& options) {
  Geometry g;
  uint64_t inodes = plan.last_ino;
  VMI_TRY(g.min_blocks, minimum_blocks(content, inodes, options));
  g.auto_sized = options.size_bytes == 0;
  if (g.auto_sized) {
    uint64_t extra = (options.extra_free_bytes + kBlockSize - 1) / kBlockSize;
    g.blocks = round_up(g.min_blocks + g.min_blocks / 64 + kAlignBlocks + extra, kAlignBlocks);
    // The journal grows with the filesystem and ext4 holds some blocks back:
    // grow until the free space asked for is what df will show.
    for (int attempt = 0; extra > 0; ++attempt) {
      VMI_TRY(uint64_t with_inodes, inodes_for(content, g.blocks, inodes, options));
      VMI_TRY(uint64_t available, available_blocks(content, g.blocks, with_inodes, options));
      if (available >= extra) break;
      if (attempt == 64 || g.blocks > kMaxBlocks) {
        return Error(ErrorKind::kCreateExt4,
                     "no ext4 geometry leaves " + format_size(options.extra_free_bytes) + " free");
      }
      uint64_t short_by = extra - available;
      g.blocks = round_up(g.blocks + short_by + short_by / 16, kAlignBlocks);
    }
    g.file_size = g.blocks * kBlockSize;
  } else {
    g.blocks = options.size_bytes / kBlockSize;
    g.file_size = options.size_bytes;
    if (g.blocks < g.min_blocks) {
      return Error(ErrorKind::kCreateExt4, "ext4 size " + std::to_string(options.size_bytes) +
                                               " bytes (" + format_size(options.size_bytes) +
                                               ") is too small for this content: at least " +
                                               std::to_string(g.min_blocks * kBlockSize) +
                                               " bytes (" + format_size(g.min_blocks * kBlockSize) +
                                               ") needed");
    }
  }
  VMI_TRY(g.inodes, inodes_for(content, g.blocks, inodes, options));
  return g;
}

}  // namespace vmimage::ext4
