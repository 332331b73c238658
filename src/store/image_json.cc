// JSON forms of the store's types (see image_json.h).
#include "store/image_json.h"

#include <charconv>
#include <ctime>

namespace vmimage::store_json {
namespace {

using In = nlohmann::json;

// Reads the number of `width` digits at text[pos], or -1.
int digits(std::string_view text, size_t pos, size_t width) {
  if (pos + width > text.size()) return -1;
  int value = 0;
  auto [end, ec] = std::from_chars(text.data() + pos, text.data() + pos + width, value);
  if (ec != std::errc() || end != text.data() + pos + width) return -1;
  return value;
}

Result<In> parse(std::string_view text, std::string_view what) {
  In doc = In::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Error(ErrorKind::kUsage, std::string(what) + " is not JSON");
  return doc;
}

// Converts while catching the library's type errors (a number where a string
// belongs): the caller's document is untrusted input.
template <typename F>
auto convert(std::string_view what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const In::exception& e) {
    return Error(ErrorKind::kUsage, "malformed " + std::string(what) + ": " + e.what());
  }
}

Result<LayerRef> layer_from(const In& j) {
  if (!j.is_object()) return Error(ErrorKind::kUsage, "a layer is not an object");
  LayerRef layer;
  layer.digest = j.value("digest", "");
  std::string fs = j.value("fs_type", "erofs");
  std::optional<FsType> type = parse_fs_type(fs.empty() ? "erofs" : fs);
  if (!type) return Error(ErrorKind::kUsage, "unknown fs_type \"" + fs + "\" of a layer");
  layer.fs_type = *type;
  layer.size = j.value("size", uint64_t{0});
  layer.path = j.value("path", "");
  if (j.contains("verity") && j["verity"].is_object()) {
    const In& v = j["verity"];
    layer.verity = VerityInfo{v.value("root_hash", ""), v.value("salt", ""),
                              v.value("data_size", uint64_t{0}), v.value("hash_offset", uint64_t{0})};
  }
  return layer;
}

Result<std::vector<LayerRef>> layers_from(const In& j) {
  std::vector<LayerRef> layers;
  if (j.is_null()) return layers;
  if (!j.is_array()) return Error(ErrorKind::kUsage, "layers are not an array");
  for (const In& item : j) {
    VMI_TRY(LayerRef layer, layer_from(item));
    layers.push_back(std::move(layer));
  }
  return layers;
}

OCIConfig oci_from(const In& j) {
  OCIConfig oci;
  if (!j.is_object()) return oci;  // null: no config
  oci.user = j.value("user", "");
  oci.working_dir = j.value("working_dir", "");
  oci.entrypoint = j.value("entrypoint", std::vector<std::string>{});
  oci.cmd = j.value("cmd", std::vector<std::string>{});
  oci.env = j.value("env", std::map<std::string, std::string>{});
  return oci;
}

}  // namespace

std::string rfc3339(TimePoint t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<TimePoint> parse_rfc3339(std::string_view text) {
  auto bad = [&] {
    return Error(ErrorKind::kUsage, "\"" + std::string(text) + "\" is not an RFC 3339 time");
  };
  int year = digits(text, 0, 4), month = digits(text, 5, 2), day = digits(text, 8, 2);
  int hour = digits(text, 11, 2), minute = digits(text, 14, 2), second = digits(text, 17, 2);
  if (text.size() < 20 || year < 0 || month < 1 || day < 1 || hour < 0 || minute < 0 ||
      second < 0 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') ||
      text[13] != ':' || text[16] != ':') {
    return bad();
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  size_t pos = 19;
  int64_t nanos = 0;
  if (text[pos] == '.') {
    int64_t scale = 100'000'000;
    for (++pos; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos) {
      nanos += (text[pos] - '0') * scale;
      scale /= 10;
    }
  }
  int64_t offset = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z') && pos + 1 == text.size()) {
    offset = 0;
  } else if (pos + 6 == text.size() && (text[pos] == '+' || text[pos] == '-') &&
             text[pos + 3] == ':' && digits(text, pos + 1, 2) >= 0 &&
             digits(text, pos + 4, 2) >= 0) {
    offset = (digits(text, pos + 1, 2) * 3600 + digits(text, pos + 4, 2) * 60) *
             (text[pos] == '-' ? -1 : 1);
  } else {
    return bad();
  }
  int64_t secs = static_cast<int64_t>(::timegm(&tm)) - offset;
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(
      std::chrono::seconds(secs) + std::chrono::nanoseconds(nanos)));
}

Json verity_json(const VerityInfo& v) {
  return {{"root_hash", v.root_hash},
          {"salt", v.salt},
          {"data_size", v.data_size},
          {"hash_offset", v.hash_offset},
          {"hash_algorithm", "sha256"},
          {"data_block_size", 4096},
          {"hash_block_size", 4096},
          {"data_blocks", v.data_size / 4096},
          {"hash_start_block", v.hash_offset / 4096 + 1},
          {"dm_table", verity_dm_table(v, "{device}")},
          {"veritysetup_open", veritysetup_open_command(v, "{device}", "{name}")}};
}

Json layer_json(const LayerRef& layer) {
  Json j = {{"digest", layer.digest},
            {"fs_type", fs_type_name(layer.fs_type)},
            {"size", layer.size},
            {"path", layer.path}};
  if (layer.verity) j["verity"] = verity_json(*layer.verity);
  return j;
}

Json oci_json(const OCIConfig& oci) {
  return {{"user", oci.user},
          {"working_dir", oci.working_dir},
          {"entrypoint", oci.entrypoint},
          {"cmd", oci.cmd},
          {"env", oci.env}};
}

Json build_result_json(const BuildResult& r) {
  auto layers = Json::array();
  for (const LayerRef& l : r.layers) layers.push_back(layer_json(l));
  auto canonical = Json::array();
  for (const LayerRef& l : r.canonical_layers) canonical.push_back(layer_json(l));
  auto fs_types = Json::array();
  for (FsType t : r.lower_fs_types) fs_types.push_back(fs_type_name(t));
  return {{"digest", r.digest},
          {"size", r.size},
          {"cached", r.cached},
          {"rootfs_path", r.rootfs_path},
          {"lower_paths", r.lower_paths},
          {"lower_fs_types", fs_types},
          {"layers", layers},
          {"canonical_layers", canonical},
          {"layer_digests", r.layer_digests},
          {"oci", oci_json(r.oci)}};
}

Json meta_json(const ImageMeta& meta) {
  return {{"tag", meta.tag},
          {"digest", meta.digest},
          {"size", meta.size},
          {"created_at", rfc3339(meta.created_at)},
          {"source", image_source_name(meta.source)},
          {"oci", oci_json(meta.oci)}};
}

Json image_info_json(const ImageInfo& info) {
  return {{"tag", info.tag},
          {"scope", scope_name(info.scope)},
          {"rootfs_path", info.rootfs_path},
          {"meta", meta_json(info.meta)}};
}

Json gc_stats_json(const GcStats& stats) {
  return {{"blobs_removed", stats.blobs_removed},
          {"bytes_removed", stats.bytes_removed},
          {"temp_files_removed", stats.temp_files_removed},
          {"leases_reaped", stats.leases_reaped}};
}

Json disk_usage_json(const DiskUsage& du) {
  auto images = Json::array();
  for (const ImageUsage& i : du.images) {
    images.push_back({{"tag", i.tag},
                      {"scope", scope_name(i.scope)},
                      {"unique_bytes", i.unique_bytes},
                      {"shared_bytes", i.shared_bytes}});
  }
  return {{"blobs", du.blobs},
          {"bytes", du.bytes},
          {"shared_bytes", du.shared_bytes},
          {"unreferenced_bytes", du.unreferenced_bytes},
          {"images", images}};
}

Json verify_report_json(const VerifyReport& report) {
  auto problems = Json::array();
  for (const BlobProblem& p : report.problems) {
    problems.push_back({{"problem", p.kind == BlobProblem::Kind::kMissing ? "missing" : "corrupt"},
                        {"digest", p.record.blob.digest},
                        {"fs_type", fs_type_name(p.record.blob.fs_type)},
                        {"path", p.record.blob.path},
                        {"detail", p.detail}});
  }
  return {{"blobs_checked", report.blobs_checked},
          {"bytes_checked", report.bytes_checked},
          {"problems", problems}};
}

Result<Json> inspect_json(const StoredImage& image, Store& store) {
  Json result = build_result_json(image.result);
  for (const char* list : {"layers", "canonical_layers"}) {
    for (Json& layer : result[list]) {
      std::optional<FsType> fs = parse_fs_type(layer["fs_type"].get<std::string>());
      VMI_TRY(std::optional<BlobRecord> record,
              store.find_blob(layer["digest"].get<std::string>(), fs.value_or(FsType::kErofs)));
      if (!record) continue;
      layer["origin"] = blob_origin_name(record->origin);
      if (!record->content_digest.empty()) layer["content_digest"] = record->content_digest;
    }
  }
  Json out = {{"tag", image.meta.tag},
              {"scope", scope_name(image.scope)},
              {"digest", result["digest"]},
              {"size", result["size"]},
              {"created_at", rfc3339(image.meta.created_at)},
              {"source", image_source_name(image.meta.source)}};
  for (auto& [key, value] : result.items()) {
    if (!out.contains(key)) out[key] = value;
  }
  return Result<Json>(std::move(out));
}

Result<std::string> dump(const Json& doc, int indent) {
  try {
    return doc.dump(indent, ' ', false, Json::error_handler_t::strict);
  } catch (const Json::exception& e) {
    return Error(
        ErrorKind::kInternal,
        std::string("cannot write the result as JSON (text that is not UTF-8): ") + e.what());
  }
}

Result<std::vector<LayerRef>> layers_from_json(std::string_view text) {
  VMI_TRY(In doc, parse(text, "the layers"));
  return convert("layers", [&] { return layers_from(doc); });
}

Result<ImageMeta> meta_from_json(std::string_view text) {
  VMI_TRY(In doc, parse(text, "the image metadata"));
  if (!doc.is_object()) return Error(ErrorKind::kUsage, "the image metadata is not an object");
  return convert("image metadata", [&]() -> Result<ImageMeta> {
    ImageMeta meta;
    meta.tag = doc.value("tag", "");
    meta.digest = doc.value("digest", "");
    meta.size = doc.value("size", uint64_t{0});
    std::string created = doc.value("created_at", "");
    if (!created.empty()) {
      VMI_TRY(meta.created_at, parse_rfc3339(created));
    }
    std::string source = doc.value("source", "");
    if (!source.empty()) {
      std::optional<ImageSource> s = parse_image_source(source);
      if (!s) return Error(ErrorKind::kUsage, "unknown image source \"" + source + "\"");
      meta.source = *s;
    }
    if (doc.contains("oci")) meta.oci = oci_from(doc["oci"]);
    return meta;
  });
}

Result<BuildResult> build_result_from_json(std::string_view text) {
  VMI_TRY(In doc, parse(text, "the build result"));
  if (!doc.is_object()) return Error(ErrorKind::kUsage, "the build result is not an object");
  return convert("build result", [&]() -> Result<BuildResult> {
    BuildResult r;
    r.digest = doc.value("digest", "");
    r.size = doc.value("size", uint64_t{0});
    r.cached = doc.value("cached", false);
    r.rootfs_path = doc.value("rootfs_path", "");
    r.lower_paths = doc.value("lower_paths", std::vector<std::string>{});
    for (const std::string& name : doc.value("lower_fs_types", std::vector<std::string>{})) {
      std::optional<FsType> type = parse_fs_type(name);
      if (!type) return Error(ErrorKind::kUsage, "unknown lower fs type \"" + name + "\"");
      r.lower_fs_types.push_back(*type);
    }
    VMI_TRY(r.layers, layers_from(doc.value("layers", In())));
    VMI_TRY(r.canonical_layers, layers_from(doc.value("canonical_layers", In())));
    r.layer_digests = doc.value("layer_digests", std::vector<std::string>{});
    if (doc.contains("oci")) r.oci = oci_from(doc["oci"]);
    return r;
  });
}

}  // namespace vmimage::store_json
