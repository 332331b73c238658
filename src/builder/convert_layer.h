// One OCI layer (an uncompressed tar stream) → one EROFS image usable as an
// overlayfs lower, in a single streaming pass: TarReader → LayerBuilder →
// erofs::ImageWriter, with the layer's DiffID computed on the way.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fs/erofs/writer.h"
#include "io/reader.h"
#include "tree/layer_builder.h"
#include "builder/layer_limits.h"
#include "tree/tree.h"
#include "util/result.h"

namespace vmimage::builder {

struct ConvertOptions {
  uint32_t block_size = 4096;
  std::optional<int64_t> mtime;                 // override every mtime (nsec 0)
  std::optional<std::array<uint8_t, 16>> uuid;  // default: derived (see convert_layer)
  std::string label;                            // EROFS volume name, at most 15 bytes
  std::string scratch_dir;                      // default: the output's directory
  Limits limits;
};

struct ConvertStats {
  tree::LayerStats layer;
  erofs::Stats image;
  uint64_t tar_bytes = 0;  // uncompressed tar stream, trailing bytes included
};

struct ConvertResult {
  std::string diff_id;  // "sha256:<hex>" of the uncompressed tar stream
  // The layer tree. Its metadata is complete (apply_layer it to build the next
  // layer's context); its FileData pointed into the writer's sources, which are
  // closed now: re-read the image with erofs::read_image to copy file data.
  tree::Tree tree;
  bool context_used = false;  // lower_context changed the image: key it by ChainID
  std::array<uint8_t, 16> uuid{};
  ConvertStats stats;
  std::vector<std::string> warnings;  // for humans; the image is still correct
};

// A layer's tree streamed from a tar (TarReader → LayerBuilder), file bodies
// into `sink`: the part every image type shares.
struct StreamedLayer {
  tree::Tree tree;
  bool context_used = false;
  tree::LayerStats stats;
  std::vector<std::string> warnings;
};
Result<StreamedLayer> stream_layer(io::Reader& tar, const std::string& input_name,
                                   tree::FileDataSink& sink, std::optional<int64_t> mtime,
                                   const tree::Tree* lower, ImageBudget& budget);

// Reads the tar stream to its end (so a verifying reader beneath sees EOF) and
// writes `out_path` atomically: on any error nothing is left under out_path or a
// temporary name. `input_name` names the input in messages. `lower_context`
// (nullable) is the merged tree of the layers below (lower_context_from_images).
// Without options.uuid the UUID is derived from the DiffID, the options and the
// layer tree's metadata, so equal inputs give byte-identical images.
Result<ConvertResult> convert_layer(io::Reader& tar_stream, const std::string& input_name,
                                    const std::string& out_path, const ConvertOptions& options,
                                    const tree::Tree* lower_context);

// The merged tree of EROFS layer images (base first), as a LowerContext.
Result<tree::Tree> lower_context_from_images(const std::vector<std::string>& image_paths);

// "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" ↔ bytes.
Result<std::array<uint8_t, 16>> parse_uuid(std::string_view text);
std::string format_uuid(const std::array<uint8_t, 16>& uuid);

}  // namespace vmimage::builder
