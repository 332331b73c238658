// make_plan: walk the tree breadth-first, size every inode record, choose data
// layouts and inode versions, place records into metadata blocks (never letting a
// record with inline data cross a block, as the kernel requires), allocate blocks.
#include "fs/erofs/plan.h"

#include <algorithm>
#include <deque>
#include <map>

#include "fs/erofs/dir.h"
#include "fs/erofs/format.h"
#include "fs/erofs/xattr.h"
#include "tree/storable.h"

namespace vmimage::erofs {
namespace {

using tree::FileType;
using tree::InodeId;

struct DataLayout {
  uint8_t layout = kLayoutFlatPlain;
  uint64_t blocks = 0;
  uint32_t inline_len = 0;
};

// Full blocks go to the data area; the tail inline when it is small enough and fits
// in one block with the inode core and xattrs (`head` bytes), else in a block too.
DataLayout choose_layout(uint64_t size, uint32_t head, uint32_t max_inline, uint32_t bs) {
  uint64_t full = size / bs;
  uint64_t tail = size % bs;
  if (tail == 0) return {kLayoutFlatPlain, full, 0};
  if (tail <= max_inline && head + tail <= bs) {
    return {kLayoutFlatInline, full, static_cast<uint32_t>(tail)};
  }
  return {kLayoutFlatPlain, full + 1, 0};
}

Status check_name(const std::string& name) {
  if (name.empty() || name.size() > kNameMax || name == "." || name == ".." ||
      name.find('/') != std::string::npos || name.find('\0') != std::string::npos) {
    return Error(ErrorKind::kLayerFs, "invalid file name \"" + name + "\"");
  }
  return {};
}

class Planner {
 public:
  Planner(const tree::Tree& tree, const PlanInput& in) : tree_(tree), in_(in) {}
  Result<Plan> run();

 private:
  Status walk();
  void choose_build_time();
  Status plan_inode(InodePlan& p);
  Status plan_content(InodePlan& p, const tree::Inode& n, uint32_t head);
  Status plan_regular(InodePlan& p, uint32_t head);
  Status check_extent(const tree::Extent& e, const char* what);
  void assign_nids();
  Status allocate_blocks();
  Error fail(InodeId id, const Error& e) const { return e.context(path_of(plan_, tree_, id)); }

  const tree::Tree& tree_;
  const PlanInput& in_;
  Plan plan_;
  std::vector<uint32_t> nlink_;
};

Result<Plan> Planner::run() {
  if (!tree_.inode(tree_.root()).is_dir()) {
    return Error(ErrorKind::kLayerFs, "the tree's root is not a directory");
  }
  VMI_CHECK(walk());
  nlink_ = tree::link_counts(tree_);
  choose_build_time();
  for (InodePlan& p : plan_.inodes) VMI_CHECK(plan_inode(p));
  assign_nids();
  VMI_CHECK(allocate_blocks());
  return std::move(plan_);
}

// Breadth-first from the root, children by name: the nid order.
Status Planner::walk() {
  size_t n = tree_.size();
  plan_.index_of.assign(n, UINT32_MAX);
  plan_.parent.assign(n, tree::kNoInode);
  plan_.name_of.assign(n, nullptr);
  std::deque<InodeId> queue{tree_.root()};
  plan_.parent[tree_.root()] = tree_.root();
  while (!queue.empty()) {
    InodeId id = queue.front();
    queue.pop_front();
    plan_.index_of[id] = static_cast<uint32_t>(plan_.inodes.size());
    plan_.inodes.push_back(InodePlan{.id = id});
    for (const auto& [name, child] : tree_.inode(id).children) {
      if (Status s = check_name(name); !s) return fail(id, s.error());
      if (child >= n) {
        return fail(id, Error(ErrorKind::kInternal, "entry \"" + name + "\" names no inode"));
      }
      if (plan_.parent[child] != tree::kNoInode) {
        if (tree_.inode(child).is_dir()) {
          return fail(id, Error(ErrorKind::kLayerFs,
                                "directory \"" + name + "\" has a second name (or a loop)"));
        }
        continue;
      }
      plan_.parent[child] = id;
      plan_.name_of[child] = &name;
      queue.push_back(child);
    }
  }
  return {};
}

// The most common mtime among inodes that could otherwise be compact becomes the
// build time, so that most inodes are. Only non-negative times qualify: some
// kernels read build_time as unsigned.
void Planner::choose_build_time() {
  std::map<std::pair<int64_t, uint32_t>, uint64_t> counts;
  for (const InodePlan& p : plan_.inodes) {
    const tree::Inode& n = tree_.inode(p.id);
    uint64_t size = n.type == FileType::kRegular ? n.data.size : 0;
    if (n.mtime_sec < 0 || size > UINT32_MAX || n.uid > 0xFFFF || n.gid > 0xFFFF ||
        nlink_[p.id] > 0xFFFF) {
      continue;
    }
    ++counts[{n.mtime_sec, n.mtime_nsec}];
  }
  uint64_t best = 0;
  for (const auto& [time, count] : counts) {
    if (count > best) {
      best = count;
      plan_.build_time = time.first;
      plan_.build_time_nsec = time.second;
    }
  }
}

Status Planner::plan_inode(InodePlan& p) {
  const tree::Inode& n = tree_.inode(p.id);
  p.nlink = nlink_[p.id];
  p.ino = static_cast<uint32_t>(&p - plan_.inodes.data()) + 1;
  if (n.mtime_nsec >= 1000000000u) {
    return fail(p.id, Error(ErrorKind::kLayerFs, "mtime nanoseconds out of range"));
  }
  if (Status s = tree::check_storable(n); !s) return fail(p.id, s.error());
  Result<uint32_t> xattrs = xattr_ibody_size(n.xattrs);
  if (!xattrs) return fail(p.id, xattrs.error());
  p.xattr_size = *xattrs;
  uint64_t size = n.type == FileType::kRegular   ? n.data.size
                  : n.type == FileType::kSymlink ? n.symlink_target.size()
                                                 : 0;
  p.extended = size > UINT32_MAX || n.uid > 0xFFFF || n.gid > 0xFFFF || p.nlink > 0xFFFF ||
               n.mtime_sec != plan_.build_time || n.mtime_nsec != plan_.build_time_nsec;
  Status s = plan_content(p, n, p.core_size() + p.xattr_size);
  if (!s) return fail(p.id, s.error());
  return {};
}

// Sizes the content of `p` (whose inode core and xattrs take `head` bytes).
Status Planner::plan_content(InodePlan& p, const tree::Inode& n, uint32_t head) {
  uint32_t bs = in_.block_size;
  DataLayout layout;
  switch (n.type) {
    case FileType::kRegular:
      return plan_regular(p, head);
    case FileType::kDirectory:
      p.size = pack_dir(sorted_dir_entries(tree_, p.id, plan_.parent[p.id]), bs).size;
      layout = choose_layout(p.size, head, max_inline_tail(bs), bs);
      break;
    case FileType::kSymlink:
      p.size = n.symlink_target.size();
      if (p.size == 0) return Error(ErrorKind::kLayerFs, "symlink with an empty target");
      layout = choose_layout(p.size, head, bs, bs);  // inline whenever it fits: fast symlinks
      break;
    case FileType::kCharDevice:
    case FileType::kBlockDevice: {
      std::optional<uint32_t> dev = encode_dev(n.rdev_major, n.rdev_minor);
      if (!dev) {
        return Error(ErrorKind::kLayerFs, "device number " + std::to_string(n.rdev_major) + ":" +
                                              std::to_string(n.rdev_minor) +
                                              " does not fit EROFS (12-bit major, 20-bit minor)");
      }
      p.rdev = *dev;
      return {};
    }
    case FileType::kFifo:
    case FileType::kSocket:
      return {};
  }
  p.layout = layout.layout;
  p.blocks = layout.blocks;
  p.inline_len = layout.inline_len;
  p.write_blocks = layout.blocks > 0;
  return {};
}

Status Planner::check_extent(const tree::Extent& e, const char* what) {
  if (e.length == 0) return {};
  if (e.source >= in_.source_sizes.size() || e.offset + e.length < e.offset ||
      e.offset + e.length > in_.source_sizes[e.source]) {
    return Error(ErrorKind::kInternal, std::string("file ") + what + " extent (source " +
                                           std::to_string(e.source) + ", offset " +
                                           std::to_string(e.offset) + ", length " +
                                           std::to_string(e.length) + ") lies outside its source");
  }
  return {};
}

// A body that sink() wrote into the output stays where it is; anything else, and
// a streamed file whose spooled tail cannot go inline, is copied to new blocks.
Status Planner::plan_regular(InodePlan& p, uint32_t head) {
  const tree::FileData& d = tree_.inode(p.id).data;
  uint32_t bs = in_.block_size;
  p.size = d.size;
  if (d.body.length + d.tail.length != d.size) {
    return Error(ErrorKind::kInternal, "file data extents do not add up to its size");
  }
  VMI_CHECK(check_extent(d.body, "body"));
  VMI_CHECK(check_extent(d.tail, "tail"));
  uint64_t full = d.size / bs * bs;
  uint64_t tail = d.size - full;
  bool in_place = d.size > 0 && d.body.source == 0 && d.body.offset % bs == 0 &&
                  d.body.offset >= in_.first_data_block * bs &&
                  d.body.offset + round_up(d.body.length, bs) <= in_.stream_end_block * bs &&
                  (d.body.length == d.size || d.body.length == full);
  if (in_place) {
    p.start_block = d.body.offset / bs;
    if (d.body.length == d.size) {  // every byte, padding included, sits in the blocks
      p.layout = kLayoutFlatPlain;
      p.blocks = div_round_up(d.size, bs);
      return {};
    }
    if (tail <= max_inline_tail(bs) && head + tail <= bs) {
      p.layout = kLayoutFlatInline;
      p.blocks = full / bs;
      p.inline_len = static_cast<uint32_t>(tail);
      return {};
    }
    ++plan_.relocated_files;
  }
  DataLayout layout = choose_layout(d.size, head, max_inline_tail(bs), bs);
  p.layout = layout.layout;
  p.blocks = layout.blocks;
  p.inline_len = layout.inline_len;
  p.write_blocks = layout.blocks > 0;
  return {};
}

// Records go one after another at 32-byte slots; one that fits in a block never
// crosses into the next (inline data must not), a bigger one starts a block.
void Planner::assign_nids() {
  uint64_t bs = in_.block_size;
  uint64_t cursor = 0;
  for (InodePlan& p : plan_.inodes) {
    uint64_t rec = p.record_size();
    if (rec > bs || cursor % bs + rec > bs) cursor = round_up(cursor, bs);
    p.meta_offset = cursor;
    p.nid = cursor / kInodeSlotSize;
    cursor += round_up(rec, kInodeSlotSize);
  }
  plan_.meta_bytes = cursor;
}

Status Planner::allocate_blocks() {
  uint64_t next = in_.stream_end_block;
  for (InodePlan& p : plan_.inodes) {
    if (!p.write_blocks) continue;
    p.start_block = next;
    next += p.blocks;
  }
  plan_.meta_blkaddr = next;
  plan_.total_blocks = next + div_round_up(plan_.meta_bytes, in_.block_size);
  if (plan_.total_blocks > kNullAddr) {
    return Error(
        ErrorKind::kLayerFs,
        "the image needs " + std::to_string(plan_.total_blocks) +
            " blocks; EROFS block addresses are 32-bit (at most 16 TiB with 4 KiB blocks)");
  }
  return {};
}

}  // namespace

Result<Plan> make_plan(const tree::Tree& tree, const PlanInput& input) {
  return Planner(tree, input).run();
}

std::string path_of(const Plan& plan, const tree::Tree& tree, tree::InodeId id) {
  std::vector<const std::string*> parts;
  while (id != tree.root() && id < plan.name_of.size() && plan.name_of[id] != nullptr) {
    parts.push_back(plan.name_of[id]);
    id = plan.parent[id];
  }
  std::string path;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) path += "/" + **it;
  return path.empty() ? "/" : path;
}

}  // namespace vmimage::erofs
