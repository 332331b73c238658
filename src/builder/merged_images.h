// Filesystem images read into trees and merged base first with OCI layer
// semantics (tree::apply_layer): the layers below a layer, a squash, an export.
// The one place that reads stored images back.
#pragma once

#include <string>
#include <vector>

#include "tree/data_sink.h"
#include "tree/tree.h"
#include "util/fd.h"
#include "vmimage/result.h"

namespace vmimage::builder {

struct MergedImages {
  tree::Tree tree;
  std::vector<UniqueFd> files;  // kept open: the tree's FileData point into them
};

// One image as it is (whiteouts and opaque markers kept), as merge_images reads each.
Result<MergedImages> read_image_file(const std::string& path, tree::DataSources* sources = nullptr);

// Reads the images at `paths` (base first) and merges them. EROFS images bring
// their file data: with `sources`, each file is registered there and the
// tree's FileData point into it. ext4 images (told apart by their magic) bring
// metadata only, which is all the layers below a layer need; with `sources`
// they are refused. Errors name the image.
Result<MergedImages> merge_images(const std::vector<std::string>& paths,
                                  tree::DataSources* sources = nullptr);

}  // namespace vmimage::builder
