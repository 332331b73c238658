// The JSON documents of the store's public types (vmimage/types.h, store.h):
// one form per type, shared by the CLI's --json output and the C ABI, and read
// back where a caller hands one in (vmimage_store_save, vmimage_builder_save_tag).
// docs/embedding.md lists the keys; times are RFC 3339 in UTC, to the second.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "vmimage/result.h"
#include "vmimage/store.h"
#include "vmimage/types.h"

namespace vmimage::store_json {

using Json = nlohmann::ordered_json;

// "2024-05-01T12:00:00Z".
std::string rfc3339(TimePoint t);
// RFC 3339 with an optional fraction and a "Z" or ±hh:mm offset; kUsage otherwise.
Result<TimePoint> parse_rfc3339(std::string_view text);

Json verity_json(const VerityInfo& verity);  // with the dm table and veritysetup command
Json layer_json(const LayerRef& layer);
Json oci_json(const OCIConfig& oci);
Json build_result_json(const BuildResult& result);
Json meta_json(const ImageMeta& meta);  // tag, digest, size, created_at, source, oci
Json image_info_json(const ImageInfo& info);
Json gc_stats_json(const GcStats& stats);
// `du`: blobs, bytes, shared_bytes, unreferenced_bytes, images (tag, scope,
// unique_bytes, shared_bytes).
Json disk_usage_json(const DiskUsage& usage);
// `verify`: blobs_checked, bytes_checked, problems (problem "missing" |
// "corrupt", digest, fs_type, path, detail).
Json verify_report_json(const VerifyReport& report);
// The `inspect` document: the image's tag, scope, source and creation time,
// then its build_result_json keys, each lower with the origin (converted here,
// or pulled as an EROFS layer) and, when known, the sha256 `store` records.
Result<Json> inspect_json(const StoredImage& image, Store& store);

// The text of a document; text that is not UTF-8 (a path) is an error, never
// an exception or a silent replacement. indent < 0: one line.
Result<std::string> dump(const Json& doc, int indent = -1);

// Documents read back (kUsage when malformed; absent keys keep their defaults).
Result<std::vector<LayerRef>> layers_from_json(std::string_view text);
Result<ImageMeta> meta_from_json(std::string_view text);
Result<BuildResult> build_result_from_json(std::string_view text);

}  // namespace vmimage::store_json
