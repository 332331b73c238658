// Builds the tree of ONE OCI layer as an overlayfs lower from its tar entries
// (OCI image spec, layer.md: changesets, whiteouts, opaque whiteouts):
// `DIR/.wh.NAME` becomes a 0:0 character device, `DIR/.wh..wh..opq` sets
// trusted.overlay.opaque=y on DIR, and no `.wh.` name is ever stored.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>

#include "tar/entry.h"
#include "util/budget.h"
#include "tree/data_sink.h"
#include "tree/tree.h"

namespace vmimage::tree {

struct LayerOptions {
  std::optional<int64_t> mtime;  // when set, every inode's mtime (nsec 0)
  std::string source_name;       // names the layer in messages
  uint64_t max_entries = UINT64_MAX;  // tar entries of this layer (limit max-layer-entries)
  // Entries of all layers of one image together (limit max-image-entries), shared
  // by the builders of the image's layers; may be null.
  Budget* image_entries = nullptr;
};

struct LayerStats {
  uint64_t entries = 0;     // tar entries seen (whiteout markers included)
  uint64_t files = 0;       // regular file entries
  uint64_t file_bytes = 0;  // their logical sizes
  uint64_t hardlinks = 0;
  uint64_t whiteouts = 0;          // stored as 0:0 character devices
  uint64_t whiteouts_dropped = 0;  // hid nothing (see LayerBuilder)
  uint64_t opaque_dirs = 0;
  uint64_t aufs_skipped = 0;  // `.wh..wh.*` aufs metadata entries other than opq
  bool root_opaque = false;   // the layer has `./.wh..wh..opq`
};

// Applies tar entries in archive order. Semantics (the integration tests hold
// tests/tools/tree_manifest.py, an independent implementation, to the same rules):
// - A later entry for a path wins. A directory over a directory only replaces its
//   metadata (children stay); anything else replaces the old node and its subtree.
//   Hardlink entries take no metadata of their own: the shared inode keeps the
//   target's (as GNU tar does).
// - Missing parents (and the root) are created 0755 root:root mtime 0, or with
//   the lower directory's metadata when `lower` has a directory there, unless the
//   same layer deletes that lower path (a whiteout of it or an ancestor, an
//   opaque ancestor, or a non-directory entry of this layer that stood there):
//   then it is new and gets the fresh metadata. A non-directory in the way of a
//   parent is replaced by such a directory.
// - A directory that replaces a non-directory of the same layer is opaque: the
//   non-directory entry had deleted the lower path and its subtree.
// - Whiteouts apply to lower layers only and are resolved in finish(): a
//   whiteout is dropped when the layer itself has that path (a directory there
//   becomes opaque instead: the lower one is deleted, the layer's one stays),
//   when it lies inside a directory that is opaque in this layer, or, with
//   `lower`, when the path does not exist below. overlayfs would otherwise show
//   such whiteouts as broken entries (notes/overlay-whiteouts.md).
// - overlayfs ignores an opaque lower root, so `./.wh..wh..opq` turns into opaque
//   top-level directories plus, with `lower`, whiteouts of the other lower root
//   names (without `lower` those stay visible: say so when no context is given).
// - aufs metadata (`.wh..wh.*` names other than the opaque marker, and anything
//   below such a directory, e.g. `.wh..wh.plnk/`) is skipped, as Docker does.
// - trusted.overlay.* xattrs in the tar are dropped: overlayfs owns that namespace.
// - Sockets are stored as sockets (tar has no typeflag for them, so libarchive
//   never yields one).
class LayerBuilder {
 public:
  // `sink` receives regular files' bytes.
  explicit LayerBuilder(FileDataSink& sink, LayerOptions options = {});

  // Applies one entry; a regular file's bytes are pulled from `data` into the sink.
  Status add(const tar::Entry& entry, tar::DataReader& data);
  // Resolves implicit directories, whiteouts and opaque markers against `lower`
  // (nullable: the merged tree of the layers below, as apply_layer builds it)
  // and returns the layer tree. Entries stream in before the layers below are
  // known; only this step needs them, so layers can stream in parallel and be
  // finished in order.
  Result<Tree> finish(const Tree* lower = nullptr);

  // After finish(): whether `lower` changed the result (an implicit directory kept
  // lower metadata, or a whiteout was dropped because nothing below had its path).
  bool context_used() const { return context_used_; }
  // After finish(): whether any lower could change the result (the layer implies
  // directories, or holds whiteouts): such a layer's image is chain-specific.
  bool context_sensitive() const { return context_sensitive_; }
  const LayerStats& stats() const { return stats_; }

 private:
  struct Whiteout {
    int64_t mtime_sec;
    uint32_t mtime_nsec;
  };

  Error entry_error(const tar::Entry& e, std::string_view what) const;
  std::string where(const tar::Entry& e) const;
  Status count_entry(const tar::Entry& entry);
  Result<InodeId> ensure_dir(std::string_view path);
  InodeId make_implicit_dir();
  void complete_implicit_dirs();
  std::unordered_set<InodeId> lower_deleting_dirs() const;
  Status add_whiteout(const tar::Entry& entry, const std::string& dir, const std::string& name);
  Status add_node(const tar::Entry& entry, InodeId parent, const std::string& name,
                  tar::DataReader& data);
  Status add_hardlink(const tar::Entry& entry, InodeId parent, const std::string& name);
  Result<Inode> make_node(const tar::Entry& entry, tar::DataReader& data);
  Result<FileData> copy_data(const tar::Entry& entry, tar::DataReader& data);
  void expand_root_opaque();
  bool in_aufs_dir(const std::string& dir) const;
  void mark_opaque_dirs();
  void resolve_whiteouts();
  // Whether a strict ancestor of `path` (the root included) is opaque in this layer.
  bool has_opaque_ancestor(const std::string& path) const;

  FileDataSink& sink_;
  LayerOptions options_;
  const Tree* lower_ = nullptr;
  Tree tree_;
  std::map<std::string, Whiteout> whiteouts_;  // full path of the hidden name
  std::set<std::string> opaque_markers_;       // dirs with `.wh..wh..opq`
  std::optional<Whiteout> root_opaque_;        // `./.wh..wh..opq` (its mtime)
  std::set<std::string> recreated_;            // dirs that replaced a non-dir of this layer
  bool context_used_ = false;
  bool context_sensitive_ = false;
  // Dirs no entry of this layer made. Held by id, never by path: a path is as
  // long as its depth, and one deep entry implies a directory per level.
  std::unordered_set<InodeId> implicit_dirs_;
  LayerStats stats_;
};

}  // namespace vmimage::tree
