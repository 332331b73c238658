// Shared pieces of the store commands: opening the store from the global
// options, and how sizes, times, digests and images are printed.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "cli/cli.h"
#include "vmimage/store.h"

namespace vmimage::cli {

Result<Store> open_store(const GlobalOptions& global);

struct FoundImage {
  std::string tag;  // as stored: the REF given, or its normalized form
  StoredImage image;
};
// Looks REF up as given, then normalized like a pull stores it ("alpine" ->
// "docker.io/library/alpine:latest"); local scope first, then the registry cache.
Result<FoundImage> find_image(Store& store, const std::string& ref);

// "512 B", "4.1 kB", "12.3 MB": decimal units, as registries and docker report them.
std::string human_size(uint64_t bytes);
// "2 hours ago", relative to now.
std::string relative_time(TimePoint t);
// RFC 3339 in UTC, to the second: "2024-05-01T12:00:00Z".
std::string rfc3339(TimePoint t);
// The first 12 hex digits of a digest, without the algorithm.
std::string short_digest(const std::string& digest);

nlohmann::ordered_json layer_json(const LayerRef& layer);
// The `inspect` document (keys documented in docs/store.md).
// With each lower's origin (converted here, or pulled as an EROFS layer) and,
// when known, its sha256, as `store` records them.
Result<nlohmann::ordered_json> inspect_json(const StoredImage& image, Store& store);

// Prints rows as left-aligned columns separated by two spaces.
void print_table(const std::vector<std::vector<std::string>>& rows);

}  // namespace vmimage::cli
