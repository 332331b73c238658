// LayerBuilder: tar entries → one layer's tree in overlayfs-lower form.
// Whiteouts and opaque markers are only recorded while entries stream in and are
// resolved in finish(), because the OCI rule "a real entry in the same layer
// wins" does not depend on archive order.
#include "tree/layer_builder.h"

#include "tree/storable.h"

#include <algorithm>

namespace vmimage::tree {

namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
constexpr std::string_view kAufsPrefix = ".wh..wh.";
constexpr std::string_view kOverlayXattrPrefix = "trusted.overlay.";
constexpr std::string_view kOpaqueXattr = "trusted.overlay.opaque";

std::string join(const std::string& dir, std::string_view name) {
  return dir.empty() ? std::string(name) : dir + "/" + std::string(name);
}

std::pair<std::string, std::string> split(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::vector<Xattr> xattrs_from(const std::vector<Xattr>& in) {
  std::vector<Xattr> out;
  for (const Xattr& x : in) {
    if (!starts_with(x.name, kOverlayXattrPrefix)) out.push_back(x);
  }
  return out;
}

std::vector<Xattr> xattrs_from(const std::vector<tar::Xattr>& in) {
  std::vector<Xattr> out;
  for (const tar::Xattr& x : in) {
    if (!starts_with(x.name, kOverlayXattrPrefix)) out.push_back(Xattr{x.name, x.value});
  }
  return out;  // tar::Entry xattrs are already sorted and unique
}

// Linux (and so EROFS and ext4) names are at most 255 bytes. A whiteout's own
// name is ".wh." plus the name it hides, so the limit applies after the prefix.
Status check_name_lengths(std::string_view path) {
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = std::min(path.find('/', pos), path.size());
    std::string_view name = path.substr(pos, slash - pos);
    if (slash == path.size() && starts_with(name, kWhiteoutPrefix)) {
      name.remove_prefix(kWhiteoutPrefix.size());
    }
    if (name.size() > 255) {
      return Error(ErrorKind::kTarball, "a name is " + std::to_string(name.size()) +
                                            " bytes long, more than the 255 Linux allows");
    }
    pos = slash + 1;
  }
  return {};
}

Inode fresh_dir() {
  Inode dir;
  dir.type = FileType::kDirectory;
  dir.mode = 0755;
  return dir;
}

// Metadata of `from` (a directory) onto `to`, children untouched.
void copy_dir_metadata(const Inode& from, Inode& to) {
  to.mode = from.mode;
  to.uid = from.uid;
  to.gid = from.gid;
  to.mtime_sec = from.mtime_sec;
  to.mtime_nsec = from.mtime_nsec;
  to.xattrs = xattrs_from(from.xattrs);
}

void set_entry_metadata(const tar::Entry& e, Inode& node) {
  node.mode = e.mode & 07777;
  node.uid = e.uid;
  node.gid = e.gid;
  node.mtime_sec = e.mtime_sec;
  node.mtime_nsec = e.mtime_nsec;
  node.xattrs = xattrs_from(e.xattrs);
}

}  // namespace

Error LayerBuilder::entry_error(const tar::Entry& e, std::string_view what) const {
  return Error(ErrorKind::kTarball, where(e) + ": " + std::string(what));
}

std::string LayerBuilder::where(const tar::Entry& e) const {
  std::string out = options_.source_name.empty() ? "" : options_.source_name + ": ";
  return out + "entry " + tar::quote_path(e.path) + " (header at byte " +
         std::to_string(e.header_offset) + ")";
}

LayerBuilder::LayerBuilder(FileDataSink& sink, LayerOptions options)
    : sink_(sink), options_(std::move(options)) {
  // The root is implicit until a "./" entry says otherwise.
  implicit_dirs_.insert(tree_.root());
}

Status LayerBuilder::count_entry(const tar::Entry& entry) {
  ++stats_.entries;
  if (stats_.entries > options_.max_entries) {
    return entry_error(entry, "the layer has more than " + std::to_string(options_.max_entries) +
                                  " entries (limit max-layer-entries)");
  }
  if (options_.image_entries != nullptr && !options_.image_entries->take(1)) {
    return entry_error(entry, "the image has more than " +
                                  std::to_string(options_.image_entries->limit()) +
                                  " entries in all its layers (limit max-image-entries)");
  }
  return {};
}

namespace {

// What the entry would store must be storable exactly (tree/storable.h);
// whiteout markers store nothing of their own.
Status check_entry_storable(const tar::Entry& e) {
  if (e.type == tar::EntryType::kSymlink) VMI_CHECK(check_symlink_target(e.symlink_target));
  FileType type = e.type == tar::EntryType::kCharDevice    ? FileType::kCharDevice
                  : e.type == tar::EntryType::kBlockDevice ? FileType::kBlockDevice
                                                           : FileType::kRegular;
  VMI_CHECK(check_device(type, e.rdev_major, e.rdev_minor));
  for (const tar::Xattr& x : e.xattrs) {
    if (!starts_with(x.name, kOverlayXattrPrefix)) VMI_CHECK(check_xattr(x.name, x.value));
  }
  return {};
}

}  // namespace

Status LayerBuilder::add(const tar::Entry& entry, tar::DataReader& data) {
  VMI_CHECK(count_entry(entry));
  std::string_view base = std::string_view(entry.path).substr(entry.path.rfind('/') + 1);
  if (entry.type != tar::EntryType::kHardlink && !starts_with(base, kWhiteoutPrefix)) {
    if (Status s = check_entry_storable(entry); !s) return entry_error(entry, s.error().message());
  }
  if (entry.path.empty()) {
    if (entry.type != tar::EntryType::kDirectory) {
      return entry_error(entry, "the root can only be a directory, not a " +
                                    std::string(tar::entry_type_name(entry.type)));
    }
    set_entry_metadata(entry, tree_.inode(tree_.root()));
    implicit_dirs_.erase(tree_.root());
    return {};
  }
  if (Status s = check_name_lengths(entry.path); !s) return entry_error(entry, s.error().message());
  auto [dir, name] = split(entry.path);
  if (in_aufs_dir(dir)) {
    ++stats_.aufs_skipped;
    return {};
  }
  if (starts_with(name, kWhiteoutPrefix)) return add_whiteout(entry, dir, name);
  Result<InodeId> parent = ensure_dir(dir);
  if (!parent) return entry_error(entry, parent.error().message());
  return add_node(entry, *parent, name, data);
}

Status LayerBuilder::add_whiteout(const tar::Entry& entry, const std::string& dir,
                                  const std::string& name) {
  if (name == kOpaqueMarker) {
    Result<InodeId> id = ensure_dir(dir);
    if (!id) return entry_error(entry, id.error().message());
    if (dir.empty()) {
      root_opaque_ = Whiteout{entry.mtime_sec, entry.mtime_nsec};
      stats_.root_opaque = true;
    } else {
      opaque_markers_.insert(dir);
    }
    return {};
  }
  if (starts_with(name, kAufsPrefix)) {
    // aufs bookkeeping (.wh..wh.plnk, .wh..wh.aufs): no meaning for OCI, so not
    // even its parents are created.
    ++stats_.aufs_skipped;
    return {};
  }
  if (name.size() == kWhiteoutPrefix.size()) return entry_error(entry, "whiteout without a name");
  Result<InodeId> parent = ensure_dir(dir);
  if (!parent) return entry_error(entry, parent.error().message());
  whiteouts_[join(dir, name.substr(kWhiteoutPrefix.size()))] =
      Whiteout{entry.mtime_sec, entry.mtime_nsec};
  return {};
}

// Cost is linear in the path: each level is one map lookup, and a missing
// level costs one new inode, never a copy of the path so far.
Result<InodeId> LayerBuilder::ensure_dir(std::string_view path) {
  InodeId cur = tree_.root();
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = std::min(path.find('/', pos), path.size());
    std::string_view name = path.substr(pos, slash - pos);
    if (starts_with(name, kWhiteoutPrefix)) {
      return Error(ErrorKind::kTarball,
                   "whiteout name " + tar::quote_path(name) + " used as a directory");
    }
    auto& children = tree_.inode(cur).children;
    auto it = children.find(name);
    if (it != children.end() && tree_.inode(it->second).is_dir()) {
      cur = it->second;
    } else {
      // A non-directory in the way: only one per path, since nothing lies below it.
      if (it != children.end()) recreated_.insert(std::string(path.substr(0, slash)));
      InodeId dir = make_implicit_dir();
      tree_.inode(cur).children[std::string(name)] = dir;
      cur = dir;
    }
    pos = slash + 1;
  }
  return cur;
}

InodeId LayerBuilder::make_implicit_dir() {
  InodeId id = tree_.add(fresh_dir());
  implicit_dirs_.insert(id);
  return id;
}

// Directories of this layer at a path the layer deletes below: whited out (and
// made again) or made where a non-directory of this layer stood.
std::unordered_set<InodeId> LayerBuilder::lower_deleting_dirs() const {
  std::unordered_set<InodeId> out;
  for (const auto& [path, w] : whiteouts_) {
    if (InodeId id = tree_.lookup(path); id != kNoInode) out.insert(id);
  }
  for (const std::string& path : recreated_) {
    if (InodeId id = tree_.lookup(path); id != kNoInode) out.insert(id);
  }
  return out;
}

// Implicit directories that the lower layers have take their metadata (OCI:
// an existing directory keeps its owner and mode), unless this layer deletes
// the lower path (a whiteout of it, a non-directory of this layer that stood
// there, an opaque ancestor, an opaque root): then it is new. One walk of the
// layer tree, with an explicit stack, beside the matching lower directory.
void LayerBuilder::complete_implicit_dirs() {
  struct Visit {
    InodeId id;
    InodeId below;        // the same path in lower_, or kNoInode
    bool opaque_above;    // a strict ancestor is opaque in this layer
  };
  std::unordered_set<InodeId> deleting = lower_deleting_dirs();
  std::vector<Visit> stack{{tree_.root(), lower_ ? lower_->root() : kNoInode, false}};
  while (!stack.empty()) {
    Visit v = stack.back();
    stack.pop_back();
    Inode& dir = tree_.inode(v.id);
    bool opaque = dir.find_xattr(kOpaqueXattr) != nullptr;
    if (implicit_dirs_.count(v.id) != 0) {
      context_sensitive_ = true;
      bool hidden = v.opaque_above || deleting.count(v.id) != 0 ||
                    (root_opaque_ && v.id != tree_.root());
      if (!hidden && v.below != kNoInode && lower_->inode(v.below).is_dir()) {
        copy_dir_metadata(lower_->inode(v.below), dir);
        if (opaque) dir.set_xattr(std::string(kOpaqueXattr), "y");
        context_used_ = true;
      }
    }
    const Inode* lower_dir = v.below != kNoInode && lower_->inode(v.below).is_dir()
                                 ? &lower_->inode(v.below)
                                 : nullptr;
    for (const auto& [name, child] : tree_.inode(v.id).children) {
      if (!tree_.inode(child).is_dir()) continue;
      InodeId below = kNoInode;
      if (lower_dir != nullptr) {
        auto it = lower_dir->children.find(name);
        if (it != lower_dir->children.end()) below = it->second;
      }
      stack.push_back(Visit{child, below, v.opaque_above || opaque});
    }
  }
}

Status LayerBuilder::add_node(const tar::Entry& entry, InodeId parent, const std::string& name,
                              tar::DataReader& data) {
  if (entry.type == tar::EntryType::kHardlink) return add_hardlink(entry, parent, name);
  auto& children = tree_.inode(parent).children;
  auto existing = children.find(name);
  if (entry.type == tar::EntryType::kDirectory && existing != children.end()) {
    if (tree_.inode(existing->second).is_dir()) {
      set_entry_metadata(entry, tree_.inode(existing->second));
      implicit_dirs_.erase(existing->second);
      return {};
    }
    recreated_.insert(entry.path);  // a directory where this layer had a non-directory
  }
  VMI_TRY(Inode node, make_node(entry, data));
  InodeId id = tree_.add(std::move(node));
  tree_.inode(parent).children[name] = id;  // `children` may be stale after add()
  return {};
}

Status LayerBuilder::add_hardlink(const tar::Entry& entry, InodeId parent,
                                  const std::string& name) {
  InodeId target = tree_.lookup(entry.hardlink_target);
  if (target == kNoInode) {
    return entry_error(entry, "hardlink target " + tar::quote_path(entry.hardlink_target) +
                                  " does not exist earlier in this layer");
  }
  if (tree_.inode(target).is_dir()) {
    return entry_error(
        entry, "hardlink target " + tar::quote_path(entry.hardlink_target) + " is a directory");
  }
  ++stats_.hardlinks;
  tree_.inode(parent).children[name] = target;
  return {};
}

Result<Inode> LayerBuilder::make_node(const tar::Entry& entry, tar::DataReader& data) {
  Inode node;
  set_entry_metadata(entry, node);
  switch (entry.type) {
    case tar::EntryType::kRegular: {
      node.type = FileType::kRegular;
      VMI_TRY(node.data, copy_data(entry, data));
      break;
    }
    case tar::EntryType::kDirectory:
      node.type = FileType::kDirectory;
      break;
    case tar::EntryType::kSymlink:
      node.type = FileType::kSymlink;
      node.symlink_target = entry.symlink_target;
      break;
    case tar::EntryType::kCharDevice:
      node.type = FileType::kCharDevice;
      break;
    case tar::EntryType::kBlockDevice:
      node.type = FileType::kBlockDevice;
      break;
    case tar::EntryType::kFifo:
      node.type = FileType::kFifo;
      break;
    case tar::EntryType::kSocket:
      node.type = FileType::kSocket;
      break;
    case tar::EntryType::kHardlink:
      return Error(ErrorKind::kInternal, "make_node called for a hardlink");
  }
  if (node.type == FileType::kCharDevice || node.type == FileType::kBlockDevice) {
    node.rdev_major = entry.rdev_major;
    node.rdev_minor = entry.rdev_minor;
  }
  return node;
}

Result<FileData> LayerBuilder::copy_data(const tar::Entry& entry, tar::DataReader& data) {
  ++stats_.files;
  stats_.file_bytes += entry.size;
  auto fail = [&](const Error& e) { return e.context(where(entry)); };
  if (Status s = sink_.begin(entry.size); !s) return fail(std::move(s).error());
  while (true) {
    Result<std::optional<tar::DataBlock>> block = data.read_block();
    if (!block) return std::move(block).error();  // the tar reader names the entry
    if (!*block) break;
    if (Status s = sink_.write((*block)->offset, (*block)->bytes); !s) {
      return fail(std::move(s).error());
    }
  }
  Result<FileData> file = sink_.finish();
  if (!file) return fail(std::move(file).error());
  return file;
}

Result<Tree> LayerBuilder::finish(const Tree* lower) {
  lower_ = lower;
  if (!whiteouts_.empty() || root_opaque_) context_sensitive_ = true;
  expand_root_opaque();
  mark_opaque_dirs();
  complete_implicit_dirs();
  resolve_whiteouts();
  if (options_.mtime) {
    for (InodeId id : reachable_inodes(tree_)) {
      tree_.inode(id).mtime_sec = *options_.mtime;
      tree_.inode(id).mtime_nsec = 0;
    }
  }
  return std::move(tree_);
}

// overlayfs ignores trusted.overlay.opaque on a lower layer's root, so an opaque
// root becomes opaque top-level directories plus, with `lower`, whiteouts of the
// lower root's other names. Without `lower` those names stay visible.
void LayerBuilder::expand_root_opaque() {
  if (!root_opaque_) return;
  for (const auto& [name, id] : tree_.inode(tree_.root()).children) {
    if (tree_.inode(id).is_dir()) opaque_markers_.insert(name);
  }
  if (lower_ == nullptr) return;
  for (const auto& [name, id] : lower_->inode(lower_->root()).children) {
    if (tree_.inode(tree_.root()).children.count(name) == 0 && whiteouts_.count(name) == 0) {
      whiteouts_[name] = *root_opaque_;
      context_used_ = true;
    }
  }
}

bool LayerBuilder::in_aufs_dir(const std::string& dir) const {
  size_t pos = 0;
  while (pos < dir.size()) {
    size_t slash = dir.find('/', pos);
    if (slash == std::string::npos) slash = dir.size();
    if (starts_with(std::string_view(dir).substr(pos, slash - pos), kAufsPrefix)) return true;
    pos = slash + 1;
  }
  return false;
}

void LayerBuilder::mark_opaque_dirs() {
  auto mark = [&](const std::string& path) {
    InodeId id = tree_.lookup(path);
    if (id == kNoInode || !tree_.inode(id).is_dir()) return;
    if (tree_.inode(id).find_xattr(kOpaqueXattr) == nullptr) ++stats_.opaque_dirs;
    tree_.inode(id).set_xattr(std::string(kOpaqueXattr), "y");
  };
  for (const std::string& path : opaque_markers_) mark(path);
  // A whiteout plus a directory of the same name: the lower one goes, the layer's
  // one stays, which in overlayfs terms is an opaque directory.
  for (const auto& [path, w] : whiteouts_) mark(path);
  // Likewise a directory where this layer first put a non-directory: that entry
  // deleted whatever the lower layers had at the path.
  for (const std::string& path : recreated_) mark(path);
}

void LayerBuilder::resolve_whiteouts() {
  for (const auto& [path, w] : whiteouts_) {
    auto [dir, name] = split(path);
    InodeId parent = tree_.lookup(dir);
    bool keep = parent != kNoInode && tree_.inode(parent).is_dir() &&
                tree_.inode(parent).children.count(name) == 0 && !has_opaque_ancestor(path);
    if (keep && lower_ != nullptr && lower_->lookup(path) == kNoInode) {
      keep = false;
      context_used_ = true;
    }
    if (!keep) {
      ++stats_.whiteouts_dropped;
      continue;
    }
    Inode node;
    node.type = FileType::kCharDevice;
    node.mode = 0;
    node.mtime_sec = w.mtime_sec;
    node.mtime_nsec = w.mtime_nsec;
    InodeId id = tree_.add(std::move(node));
    tree_.inode(parent).children[name] = id;
    ++stats_.whiteouts;
  }
}

bool LayerBuilder::has_opaque_ancestor(const std::string& path) const {
  InodeId cur = tree_.root();
  size_t pos = 0;
  while (pos < path.size()) {
    if (tree_.inode(cur).find_xattr(kOpaqueXattr) != nullptr) return true;
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) return false;  // the last component is the path itself
    auto it = tree_.inode(cur).children.find(path.substr(pos, slash - pos));
    if (it == tree_.inode(cur).children.end() || !tree_.inode(it->second).is_dir()) return false;
    cur = it->second;
    pos = slash + 1;
  }
  return false;
}

}  // namespace vmimage::tree
