// EROFS-native layers (an image converted elsewhere and published as EROFS
// lowers, e.g. by `vmimage push` or `ctr image convert --erofs`): each blob
// goes into the store as it is, with no tar conversion. It is hostile input
// like any layer: its digest and DiffID are checked as it streams, its size is
// bounded, and our EROFS reader walks the whole image (superblock, every
// inode, directory and xattr, within the image limits) before it is kept.
//
// The store key is pulled_layer_key(DiffID), never the DiffID itself: a local
// conversion keys a tar layer's blob by the tar's DiffID, and a blob that is a
// valid tar and a valid EROFS image at once must not answer for that tar.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "builder/layer_limits.h"
#include "builder/layer_store.h"
#include "oci/manifest.h"
#include "io/reader.h"
#include "tree/tree.h"
#include "vmimage/result.h"
#include "vmimage/store.h"

namespace vmimage::builder {

// The store key of a pulled EROFS layer whose raw image has this DiffID.
std::string pulled_layer_key(const std::string& diff_id);

// Fails unless `tree` (a layer read back from its image) is within the limits
// a tar layer is held to: entries per layer and per image (drawn from
// `budget`), path depth.
Status check_layer_tree(const tree::Tree& tree, const std::string& name, ImageBudget& budget);

// Layer `index`'s raw EROFS image, verified against its DiffID at its end.
using OpenLayerImage = std::function<Result<std::unique_ptr<io::Reader>>(int index)>;

// Puts the layers (base → top, by DiffID) into the store under
// pulled_layer_key, fetching those it lacks, `jobs` at a time. The result's
// refs are the pulled keys; new blobs commit as StoredLayers describes.
// The dm-verity tree a published layer says its blob ends with (push's
// annotations); none without them; an error when they are malformed.
Result<std::optional<VerityInfo>> published_verity(const oci::Descriptor& layer);

// `trees[i]`: the tree layer i's blob ends with, checked against the blob
// before it is stored. A layer without one gets one when options.verity.
Result<std::unique_ptr<StoredLayers>> store_erofs_layers(
    Lease& lease, const std::vector<std::string>& diff_ids,
    const std::vector<std::optional<VerityInfo>>& trees, const std::string& scratch_dir,
    const OpenLayerImage& open, ImageBudget& budget, const LayerStoreOptions& options);

}  // namespace vmimage::builder
