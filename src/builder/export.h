// Flattens a stored image (its runtime lowers, base first) into one filesystem
// image: a writable ext4 root disk or a single EROFS, from the blobs alone.
#pragma once

#include <string>
#include <vector>

#include "fs/ext4/writer.h"
#include "util/result.h"

namespace vmimage::builder {

Result<ext4::Ext4Stats> export_ext4(const std::vector<std::string>& lower_paths,
                                    const std::string& output, const ext4::Ext4Options& options);
// One EROFS image as ext4, as it is (whiteouts and opaque markers kept): an
// overlayfs lower in the other filesystem.
Result<ext4::Ext4Stats> erofs_to_ext4(const std::string& erofs_path, const std::string& output,
                                      const ext4::Ext4Options& options);
Status export_erofs(const std::vector<std::string>& lower_paths, const std::string& output);

}  // namespace vmimage::builder
