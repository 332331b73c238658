// Formatting for the store commands (see store_format.h).
#include "cli/store_format.h"

#include "oci/reference.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace vmimage::cli {

Result<FoundImage> find_image(Store& store, const std::string& ref) {
  Result<StoredImage> image = store.resolve(ref);
  if (image.ok()) return FoundImage{ref, std::move(*image)};
  if (image.error().kind() != ErrorKind::kImageNotFound) return std::move(image).error();
  Result<oci::Reference> parsed = oci::parse_reference(ref);
  if (!parsed.ok() || parsed->str() == ref) return std::move(image).error();
  Result<StoredImage> normalized = store.resolve(parsed->str());
  if (!normalized.ok()) return std::move(image).error();
  return FoundImage{parsed->str(), std::move(*normalized)};
}

Result<Store> open_store(const GlobalOptions& global) {
  return Store::open(global.cache_dir);
}

std::string human_size(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  if (bytes < 1000) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1000 && unit + 1 < std::size(kUnits)) {
    value /= 1000;
    unit++;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf,
                value < 10    ? "%.2f %s"
                : value < 100 ? "%.1f %s"
                              : "%.0f %s",
                value, kUnits[unit]);
  return buf;
}

std::string relative_time(TimePoint t) {
  auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - t)
          .count();
  if (seconds < 0) return "in the future";
  if (seconds < 2) return "just now";
  struct Unit {
    int64_t seconds;
    const char* name;
  };
  static const Unit kUnits[] = {{365 * 86400, "year"}, {30 * 86400, "month"}, {7 * 86400, "week"},
                                {86400, "day"},        {3600, "hour"},        {60, "minute"},
                                {1, "second"}};
  for (const Unit& u : kUnits) {
    if (seconds >= u.seconds) {
      int64_t n = seconds / u.seconds;
      return std::to_string(n) + " " + u.name + (n == 1 ? "" : "s") + " ago";
    }
  }
  return "just now";
}

std::string rfc3339(TimePoint t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string short_digest(const std::string& digest) {
  auto colon = digest.find(':');
  std::string hex = colon == std::string::npos ? digest : digest.substr(colon + 1);
  return hex.substr(0, 12);
}

nlohmann::ordered_json layer_json(const LayerRef& layer) {
  return {{"digest", layer.digest},
          {"fs_type", fs_type_name(layer.fs_type)},
          {"size", layer.size},
          {"path", layer.path}};
}

Result<nlohmann::ordered_json> inspect_json(const StoredImage& image, Store& store) {
  const BuildResult& r = image.result;
  const OCIConfig& oci = r.oci;
  auto with_origin = [&](const LayerRef& l) -> Result<nlohmann::ordered_json> {
    nlohmann::ordered_json j = layer_json(l);
    VMI_TRY(std::optional<BlobRecord> record, store.find_blob(l.digest, l.fs_type));
    if (record) {
      j["origin"] = blob_origin_name(record->origin);
      if (!record->content_digest.empty()) j["content_digest"] = record->content_digest;
    }
    return j;
  };
  auto layers = nlohmann::ordered_json::array();
  for (const LayerRef& l : r.layers) {
    VMI_TRY(auto j, with_origin(l));
    layers.push_back(std::move(j));
  }
  auto canonical = nlohmann::ordered_json::array();
  for (const LayerRef& l : r.canonical_layers) {
    VMI_TRY(auto j, with_origin(l));
    canonical.push_back(std::move(j));
  }
  auto fs_types = nlohmann::ordered_json::array();
  for (FsType t : r.lower_fs_types) fs_types.push_back(fs_type_name(t));
  return nlohmann::ordered_json{{"tag", image.meta.tag},
                                {"scope", scope_name(image.scope)},
                                {"digest", r.digest},
                                {"size", r.size},
                                {"created_at", rfc3339(image.meta.created_at)},
                                {"source", image_source_name(image.meta.source)},
                                {"cached", r.cached},
                                {"rootfs_path", r.rootfs_path},
                                {"lower_paths", r.lower_paths},
                                {"lower_fs_types", fs_types},
                                {"layers", layers},
                                {"canonical_layers", canonical},
                                {"layer_digests", r.layer_digests},
                                {"oci",
                                 {{"user", oci.user},
                                  {"working_dir", oci.working_dir},
                                  {"entrypoint", oci.entrypoint},
                                  {"cmd", oci.cmd},
                                  {"env", oci.env}}}};
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

}  // namespace vmimage::cli
