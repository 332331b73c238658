// Shared pieces of the store commands: opening the store from the global
// options, and how sizes, times, digests and images are printed.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "cli/cli.h"
#include "store/find_image.h"
#include "store/image_json.h"
#include "vmimage/store.h"

namespace vmimage::cli {

Result<Store> open_store(const GlobalOptions& global);

// "512 B", "4.1 kB", "12.3 MB": decimal units, as registries and docker report them.
std::string human_size(uint64_t bytes);
// "2 hours ago", relative to now.
std::string relative_time(TimePoint t);
// The first 12 hex digits of a digest, without the algorithm.
std::string short_digest(const std::string& digest);

// The JSON documents (the `inspect` document's keys are in docs/store.md).
using store_json::inspect_json;
using store_json::layer_json;
using store_json::rfc3339;

// Prints rows as left-aligned columns separated by two spaces.
void print_table(const std::vector<std::vector<std::string>>& rows);

}  // namespace vmimage::cli
