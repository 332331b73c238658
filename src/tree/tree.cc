#include "tree/tree.h"

#include <sys/stat.h>

#include <algorithm>
#include <deque>

namespace vmimage::tree {

void Inode::set_xattr(std::string name, std::string value) {
  auto it = std::lower_bound(xattrs.begin(), xattrs.end(), name,
                             [](const Xattr& x, const std::string& n) { return x.name < n; });
  if (it != xattrs.end() && it->name == name) {
    it->value = std::move(value);
  } else {
    xattrs.insert(it, Xattr{std::move(name), std::move(value)});
  }
}

bool Inode::remove_xattr(std::string_view name) {
  auto it = std::find_if(xattrs.begin(), xattrs.end(), [&](const Xattr& x) { return x.name == name; });
  if (it == xattrs.end()) return false;
  xattrs.erase(it);
  return true;
}

const std::string* Inode::find_xattr(std::string_view name) const {
  for (const Xattr& x : xattrs) {
    if (x.name == name) return &x.value;
  }
  return nullptr;
}

Tree::Tree() {
  Inode root;
  root.type = FileType::kDirectory;
  root.mode = 0755;
  inodes_.push_back(std::move(root));
}

InodeId Tree::add(Inode inode) {
  inodes_.push_back(std::move(inode));
  return static_cast<InodeId>(inodes_.size() - 1);
}

InodeId Tree::lookup(std::string_view path) const {
  InodeId cur = root();
  while (!path.empty()) {
    size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
    if (part.empty()) continue;
    const Inode& dir = inodes_[cur];
    if (!dir.is_dir()) return kNoInode;
    auto it = dir.children.find(part);
    if (it == dir.children.end()) return kNoInode;
    cur = it->second;
  }
  return cur;
}

uint32_t type_mode_bits(FileType type) {
  switch (type) {
    case FileType::kRegular: return S_IFREG;
    case FileType::kDirectory: return S_IFDIR;
    case FileType::kSymlink: return S_IFLNK;
    case FileType::kCharDevice: return S_IFCHR;
    case FileType::kBlockDevice: return S_IFBLK;
    case FileType::kFifo: return S_IFIFO;
    case FileType::kSocket: return S_IFSOCK;
  }
  return 0;
}

std::vector<InodeId> reachable_inodes(const Tree& tree) {
  std::vector<InodeId> order;
  std::vector<bool> seen(tree.size(), false);
  std::deque<InodeId> queue{tree.root()};
  seen[tree.root()] = true;
  while (!queue.empty()) {
    InodeId id = queue.front();
    queue.pop_front();
    order.push_back(id);
    for (const auto& [name, child] : tree.inode(id).children) {
      if (!seen[child]) {
        seen[child] = true;
        queue.push_back(child);
      }
    }
  }
  return order;
}

std::vector<uint32_t> link_counts(const Tree& tree) {
  std::vector<uint32_t> counts(tree.size(), 0);
  for (InodeId id : reachable_inodes(tree)) {
    const Inode& node = tree.inode(id);
    if (node.is_dir()) counts[id] += 2;
    for (const auto& [name, child] : node.children) {
      if (tree.inode(child).is_dir()) {
        counts[id] += 1;
      } else {
        counts[child] += 1;
      }
    }
  }
  return counts;
}

}  // namespace vmimage::tree
