// The squashed lower: the OCI application of layer blobs (base first) written as
// one EROFS image. File bodies are copied from the layer blobs, never
// decompressed again.
#pragma once

#include <string>
#include <vector>

#include "tree/tree.h"
#include "util/fd.h"
#include "util/result.h"
#include "util/writeback.h"

namespace vmimage::builder {

// The merged tree of EROFS layer images (base first), metadata only.
Result<tree::Tree> merge_layer_images(const std::vector<std::string>& paths);

// An open layer image and its name for messages.
struct LayerFile {
  UniqueFd fd;
  std::string name;
};
Result<std::vector<LayerFile>> open_layer_files(const std::vector<std::string>& paths);

// Writes the squash of `layers` (base first) into out_fd (a store temp file, or
// with PageCache::kDropBehind a file for the user that is not read back).
Status write_squashed(const std::vector<LayerFile>& layers, int out_fd,
                      const std::string& out_name, const std::string& scratch_dir,
                      PageCache page_cache = PageCache::kKeep);

// Whether a layer tree can serve as its own squash (nothing overlayfs-specific in it).
bool is_plain_tree(const tree::Tree& tree);

}  // namespace vmimage::builder
