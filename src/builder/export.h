// Stored images (their EROFS blobs, base first) flattened or converted into
// one filesystem image: a writable ext4 root disk or a single EROFS (export),
// and the ext4 twin of a runtime lower (pull and import with --fs ext4).
#pragma once

#include <string>
#include <vector>

#include "builder/layer_converter.h"
#include "fs/ext4/writer.h"
#include "vmimage/result.h"

namespace vmimage::builder {

Result<ext4::Ext4Stats> export_ext4(const std::vector<std::string>& lower_paths,
                                    const std::string& output, const ext4::Ext4Options& options);
Status export_erofs(const std::vector<std::string>& lower_paths, const std::string& output);

// One EROFS lower as ext4, as it is (whiteouts and opaque markers kept), into
// the empty file open as `fd` and named `path`; `content_key` names its
// content (a DiffID, or the squash's key). Its bytes equal those of `vmimage
// mkfs --type ext4` of the same layer over the same lowers (layer_uuid).
Result<ext4::Ext4Stats> ext4_twin(const std::string& erofs_path, const std::string& content_key,
                                  int fd, const std::string& path);

}  // namespace vmimage::builder
