// Stored images (their EROFS blobs, base first) flattened or converted into
// one filesystem image: a writable ext4 root disk or a single EROFS (export),
// and the ext4 twin of a runtime lower (pull and import with --fs ext4).
#pragma once

#include <string>
#include <vector>

#include "builder/layer_converter.h"
#include "fs/ext4/writer.h"
#include "vmimage/result.h"
#include "vmimage/types.h"

namespace vmimage::builder {


// The image as EROFS blobs, base first: its runtime lowers when they are EROFS
// (a squashed image is one blob), else its per-layer blobs, which always are
// (an image pulled with --fs ext4 has ext4 lowers).
Result<std::vector<std::string>> export_lowers(const BuildResult& image);

struct ExportOptions {
  FsType type = FsType::kExt4;
  uint64_t size_bytes = 0;        // ext4: the image's total size; 0: what the content needs
  uint64_t extra_free_bytes = 0;  // ext4, sized automatically: this much available once mounted
  // A dm-verity tree with this salt after the filesystem (read back once it is
  // written); the disk is then read-only.
  std::optional<verity::Salt> verity;
};

struct ExportResult {
  ext4::Ext4Stats stats;  // for EROFS only size_bytes is set (the filesystem's)
  std::optional<VerityInfo> verity;
};

// A stored image's whole tree as one writable ext4 root disk (with a journal)
// or one EROFS: what `vmimage export` writes.
Result<ExportResult> export_image(const BuildResult& image, const std::string& output,
                                  const ExportOptions& options);

// One EROFS lower as ext4, as it is (whiteouts and opaque markers kept), into
// the empty file open as `fd` and named `path`; `content_key` names its
// content (a DiffID, or the squash's key). Its bytes equal those of `vmimage
// mkfs --type ext4` of the same layer over the same lowers (layer_uuid).
Result<ext4::Ext4Stats> ext4_twin(const std::string& erofs_path, const std::string& content_key,
                                  int fd, const std::string& path);

}  // namespace vmimage::builder
