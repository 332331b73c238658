// One OCI layer (an uncompressed tar stream) → one ext4 image: TarReader →
// LayerBuilder with file bodies spooled to an anonymous scratch file →
// ext4::write_ext4. Same layer semantics as the EROFS path (convert_layer.h).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fs/ext4/writer.h"
#include "io/reader.h"
#include "tree/layer_builder.h"
#include "tree/tree.h"
#include "util/result.h"
#include "vmimage/limits.h"

namespace vmimage::builder {

struct Ext4ConvertOptions {
  std::optional<int64_t> mtime;                 // override every mtime (nsec 0)
  std::optional<std::array<uint8_t, 16>> uuid;  // default: derived from the content
  std::string label;                            // at most 16 bytes
  std::string scratch_dir;                      // default: the output's directory
  uint64_t size_bytes = 0;                      // 0: automatic
  uint64_t extra_free_bytes = 0;                // free space added to an automatic size
  Limits limits;
};

struct Ext4ConvertResult {
  std::string diff_id;  // "sha256:<hex>" of the uncompressed tar stream
  tree::Tree tree;      // metadata only: its FileData pointed into the closed spool
  bool context_used = false;
  tree::LayerStats layer;
  ext4::Ext4Stats image;
  uint64_t tar_bytes = 0;
  std::vector<std::string> warnings;
};

// Reads the tar stream to its end and writes `out_path` atomically (nothing is
// left on error). A too-small options.size_bytes fails after reading the
// layer, before the image is written, naming the size needed.
Result<Ext4ConvertResult> convert_layer_ext4(io::Reader& tar_stream, const std::string& input_name,
                                             const std::string& out_path,
                                             const Ext4ConvertOptions& options,
                                             const tree::Tree* lower_context);

}  // namespace vmimage::builder
