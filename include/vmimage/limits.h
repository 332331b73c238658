// Bounds on what vmimage accepts from registries, archives and layers: every
// size, count, depth and wait an attacker could otherwise choose. Each has a
// default a user would expect; docs/security.md explains each one. The CLI sets
// them with `--limit NAME=VALUE` or $VMIMAGE_LIMITS ("NAME=VALUE,NAME=VALUE").
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vmimage/export.h"
#include "vmimage/result.h"

namespace vmimage {

struct Limits {
  // One layer (a tar stream).
  uint64_t max_path_bytes = 4096;            // a path inside a layer, normalized
  uint64_t max_path_depth = 1024;            // its directory levels
  uint64_t max_layer_entries = 2'000'000;    // tar entries of one layer
  uint64_t max_layer_bytes = uint64_t{64} << 30;  // one layer's uncompressed tar
  uint64_t max_trailing_bytes = uint64_t{1} << 20;  // after the end-of-archive marker
  // One image.
  uint64_t max_layers = 500;                 // overlayfs stacks at most 500 lowers
  uint64_t max_image_entries = 4'000'000;    // tar entries of all layers together
  uint64_t max_image_bytes = uint64_t{256} << 30;  // uncompressed tars together
  uint64_t max_archive_blobs = 1000;         // layer blobs one archive may hold (all images)
  // Documents (manifests, indexes, configs, archive metadata, token answers).
  uint64_t max_manifest_bytes = uint64_t{4} << 20;  // the distribution spec's own limit
  uint64_t max_config_bytes = uint64_t{64} << 20;
  // Registry transfers.
  std::chrono::seconds stall_timeout{30};    // no byte at all for this long
  uint64_t min_rate = 1024;                  // bytes/s, averaged over rate_window; 0: off
  std::chrono::seconds rate_window{30};
  std::chrono::seconds document_timeout{60}; // one manifest, config or token, retries included
  uint64_t max_redirects = 5;
  uint64_t max_retries = 5;  // further attempts of a failed request (backoff between)
};

// Sets one limit by name ("max-layer-bytes") from text: sizes take K/M/G/T
// suffixes, durations s/m/h. Errors are kUsage and name the limit.
VMIMAGE_API Status set_limit(Limits& limits, std::string_view name, std::string_view value);
// Applies "NAME=VALUE" (one --limit flag) or a comma-separated list of them.
VMIMAGE_API Status apply_limits(Limits& limits, std::string_view assignments);

struct LimitInfo {
  std::string name;         // "max-layer-bytes"
  std::string value;        // as set_limit accepts it: "64G", "30s", "500"
  std::string description;  // one line
};
// Every limit with its current value, in documentation order.
VMIMAGE_API std::vector<LimitInfo> describe_limits(const Limits& limits);

}  // namespace vmimage
