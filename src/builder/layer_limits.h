// The limits one image's conversion runs under (vmimage/limits.h), with the
// budgets its layers draw from together while they convert in parallel.
#pragma once

#include <string>

#include "tar/tar_reader.h"
#include "tree/layer_builder.h"
#include "util/budget.h"
#include "vmimage/limits.h"

namespace vmimage::builder {

class ImageBudget {
 public:
  explicit ImageBudget(const Limits& limits)
      : limits_(limits), entries_(limits.max_image_entries), bytes_(limits.max_image_bytes) {}
  ImageBudget(const ImageBudget&) = delete;
  ImageBudget& operator=(const ImageBudget&) = delete;

  const Limits& limits() const { return limits_; }
  // What the image's layers draw from together.
  Budget& image_entries() { return entries_; }
  Budget& image_bytes() { return bytes_; }

  tar::TarOptions tar_options() {
    tar::TarOptions o;
    o.paths = tar::PathLimits{limits_.max_path_bytes, limits_.max_path_depth};
    o.max_bytes = limits_.max_layer_bytes;
    o.max_trailing_bytes = limits_.max_trailing_bytes;
    o.image_bytes = &bytes_;
    return o;
  }

  tree::LayerOptions layer_options(std::string source_name) {
    tree::LayerOptions o;
    o.source_name = std::move(source_name);
    o.max_entries = limits_.max_layer_entries;
    o.image_entries = &entries_;
    return o;
  }

 private:
  Limits limits_;
  Budget entries_;
  Budget bytes_;
};

}  // namespace vmimage::builder
