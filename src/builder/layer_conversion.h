// One layer tar → one EROFS lower, in two phases so layers can stream in
// parallel yet be completed in order: stream() pulls the tar through the layer
// builder (file bodies go straight into the image), finish() completes the tree
// against the merged tree of the layers below and writes the metadata.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "builder/layer_limits.h"
#include "fs/erofs/writer.h"
#include "io/reader.h"
#include "tree/layer_builder.h"
#include "tree/tree.h"
#include "util/result.h"

namespace vmimage::builder {

class LayerConversion {
 public:
  // The image is written into out_fd (a store temp file); the tail spool lives
  // in scratch_dir.
  static Result<std::unique_ptr<LayerConversion>> create(int out_fd, std::string out_name,
                                                         const std::string& scratch_dir);

  // Phase 1, any thread: reads the tar to its end (so verifying readers beneath
  // check digests) and computes its DiffID, unless `verified_diff_id` is given:
  // the DiffID that `tar` itself checks at its end (a registry layer stream).
  // `budget` bounds the stream (and the image it belongs to).
  Status stream(io::Reader& tar, const std::string& name, ImageBudget& budget,
                std::optional<std::string> verified_diff_id = std::nullopt);
  const std::string& diff_id() const { return diff_id_; }
  uint64_t tar_bytes() const { return tar_bytes_; }

  // Phase 2, in layer order: `lower` is the merged tree of the layers below
  // (nullptr or empty for the bottom layer).
  Status finish(const tree::Tree* lower);
  // After finish: whether the image depends on the layers below (the layer
  // implies directories or holds whiteouts), so its blob is chain-specific.
  bool context_sensitive() const { return context_sensitive_; }
  // After finish: the layer tree (metadata; its FileData points into this
  // conversion's own sources).
  const tree::Tree& tree() const { return tree_; }

 private:
  LayerConversion() = default;

  std::unique_ptr<erofs::ImageWriter> writer_;
  std::unique_ptr<tree::LayerBuilder> builder_;
  std::string name_;
  std::string diff_id_;
  uint64_t tar_bytes_ = 0;
  bool context_sensitive_ = false;
  tree::Tree tree_;
};

}  // namespace vmimage::builder
