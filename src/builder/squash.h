// The squashed lower: the OCI application of layer images (base first) written
// as one EROFS image. File bodies are copied from the layer images, never
// decompressed again.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "vmimage/result.h"
#include "util/writeback.h"

namespace vmimage::builder {

// Writes the squash of the EROFS images at `paths` (base first) into out_fd,
// an empty file named out_name (a store temp file, or with kDropBehind a file
// for the user that is not read back). `opened`, when given, is called once
// every image is open: from then on they may be renamed (a store commit).
Status write_squashed(const std::vector<std::string>& paths, int out_fd,
                      const std::string& out_name, const std::string& scratch_dir,
                      PageCache page_cache = PageCache::kKeep,
                      const std::function<void()>& opened = nullptr);

}  // namespace vmimage::builder
