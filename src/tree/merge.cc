// apply_layer: a walk of the layer tree with an explicit stack (a layer may be
// as deep as its input makes it), editing the merged tree in place. Inode ids
// of the merged tree are held, never references, because Tree::add may move
// the inode vector.
#include "tree/merge.h"

#include <string_view>
#include <unordered_map>
#include <utility>

namespace vmimage::tree {

namespace {

constexpr std::string_view kOverlayXattrPrefix = "trusted.overlay.";
constexpr std::string_view kOpaqueXattr = "trusted.overlay.opaque";

std::vector<Xattr> visible_xattrs(const std::vector<Xattr>& in) {
  std::vector<Xattr> out;
  for (const Xattr& x : in) {
    if (x.name.compare(0, kOverlayXattrPrefix.size(), kOverlayXattrPrefix) != 0) out.push_back(x);
  }
  return out;
}

class Merger {
 public:
  Merger(Tree& merged, const Tree& layer, const MergeOptions& options)
      : merged_(merged), layer_(layer), options_(options) {}

  // Each (merged dir, layer dir) pair is handled once; the order does not
  // change the result, since every name of a layer directory is applied once.
  Status run() {
    std::vector<std::pair<InodeId, InodeId>> todo{{merged_.root(), layer_.root()}};
    while (!todo.empty()) {
      auto [mdir, ldir] = todo.back();
      todo.pop_back();
      VMI_CHECK(merge_dir(mdir, ldir, todo));
    }
    return {};
  }

 private:
  Status merge_dir(InodeId mdir, InodeId ldir, std::vector<std::pair<InodeId, InodeId>>& todo) {
    const Inode& from = layer_.inode(ldir);
    const std::string* opaque = from.find_xattr(kOpaqueXattr);
    if (opaque != nullptr && *opaque == "y") merged_.inode(mdir).children.clear();
    Inode& to = merged_.inode(mdir);
    to.mode = from.mode;
    to.uid = from.uid;
    to.gid = from.gid;
    to.mtime_sec = from.mtime_sec;
    to.mtime_nsec = from.mtime_nsec;
    to.xattrs = visible_xattrs(from.xattrs);
    for (const auto& [name, lchild] : from.children) {
      const Inode& child = layer_.inode(lchild);
      if (is_whiteout(child)) {
        merged_.inode(mdir).children.erase(name);
      } else if (child.is_dir()) {
        todo.emplace_back(subdir(mdir, name), lchild);
      } else {
        VMI_TRY(InodeId id, copy_node(lchild));
        merged_.inode(mdir).children[name] = id;
      }
    }
    return {};
  }

  // The merged directory `name` in `mdir`: the existing one, or a new one in
  // place of whatever else had the name.
  InodeId subdir(InodeId mdir, const std::string& name) {
    auto& children = merged_.inode(mdir).children;
    auto it = children.find(name);
    if (it != children.end() && merged_.inode(it->second).is_dir()) return it->second;
    Inode dir;
    dir.type = FileType::kDirectory;
    InodeId target = merged_.add(std::move(dir));
    merged_.inode(mdir).children[name] = target;
    return target;
  }

  // One merged inode per layer inode, so hardlinks stay hardlinks.
  Result<InodeId> copy_node(InodeId lid) {
    auto it = copied_.find(lid);
    if (it != copied_.end()) return it->second;
    Inode node = layer_.inode(lid);
    node.xattrs = visible_xattrs(node.xattrs);
    if (node.type == FileType::kRegular) {
      VMI_CHECK(remap(node.data.body));
      VMI_CHECK(remap(node.data.tail));
    }
    InodeId id = merged_.add(std::move(node));
    copied_[lid] = id;
    return id;
  }

  Status remap(Extent& extent) const {
    if (options_.source_map.empty()) return {};
    if (extent.source < options_.source_map.size()) {
      extent.source = options_.source_map[extent.source];
      return {};
    }
    if (extent.length == 0) return {};
    return Error(ErrorKind::kInternal, "layer data source " + std::to_string(extent.source) +
                                           " has no entry in the merge source map");
  }

  Tree& merged_;
  const Tree& layer_;
  const MergeOptions& options_;
  std::unordered_map<InodeId, InodeId> copied_;
};

}  // namespace

bool is_whiteout(const Inode& node) {
  return node.type == FileType::kCharDevice && node.rdev_major == 0 && node.rdev_minor == 0;
}

Status apply_layer(Tree& merged, const Tree& layer, const MergeOptions& options) {
  return Merger(merged, layer, options).run();
}

}  // namespace vmimage::tree
