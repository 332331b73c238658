#include "tree/digest.h"

#include "io/sha256.h"

namespace vmimage::tree {
namespace {

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

void feed_inode(Feed& f, const Inode& node, const std::vector<uint32_t>& index) {
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
  for (const Xattr& x : node.xattrs) {
    f.str(x.name);
    f.str(x.value);
  }
  f.u64(node.type == FileType::kRegular ? node.data.size : 0);
  f.u64(node.children.size());
  for (const auto& [name, child] : node.children) {
    f.str(name);
    f.u64(index[child]);
  }
}

}  // namespace

std::string metadata_digest(const Tree& tree) {
  std::vector<InodeId> order = reachable_inodes(tree);
  std::vector<uint32_t> index(tree.size(), UINT32_MAX);
  for (size_t i = 0; i < order.size(); ++i) index[order[i]] = static_cast<uint32_t>(i);
  io::Sha256 hash;
  Feed feed(hash);
  feed.str("vmimage tree v1");
  feed.u64(order.size());
  for (InodeId id : order) feed_inode(feed, tree.inode(id), index);
  return hash.finish_raw();
}

}  // namespace vmimage::tree
