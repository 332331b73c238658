// Squash merge: applies one layer tree (overlayfs-lower form, as LayerBuilder
// makes it) onto a merged tree with OCI layer semantics. The result is what an
// overlayfs stack of the layers shows: no whiteouts, no trusted.overlay.* xattrs.
#pragma once

#include <cstdint>
#include <vector>

#include "tree/tree.h"
#include "vmimage/result.h"

namespace vmimage::tree {

struct MergeOptions {
  // Maps the layer's DataSources indexes to the merged tree's (layer index i →
  // source_map[i]). Empty: extents are copied unchanged.
  std::vector<uint32_t> source_map;
};

// A 0:0 character device: overlayfs's whiteout.
bool is_whiteout(const Inode& node);

// Applies `layer` onto `merged`: a whiteout deletes the name (with its subtree);
// an opaque directory drops the lower children before its own are added;
// directories merge (the layer's metadata wins), anything else replaces. Names
// that share an inode in the layer share one in the result. Fails only on a
// FileData source missing from options.source_map.
Status apply_layer(Tree& merged, const Tree& layer, const MergeOptions& options = {});

}  // namespace vmimage::tree
