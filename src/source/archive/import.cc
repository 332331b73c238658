// import_archive / import_directory: collect the archive's contents, resolve the
// image, then check every layer against the config's DiffIDs and every blob
// against the digest its name or descriptor promises.
#include <sys/stat.h>

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "oci/media_types.h"
#include "source/archive/archive.h"
#include "source/archive/contents.h"
#include "source/archive/resolve.h"
#include "source/archive/tar_walk.h"

namespace vmimage::archive {
namespace {

constexpr ErrorKind kKind = ErrorKind::kTarball;

std::string_view layer_media_type(io::Compression c) {
  switch (c) {
    case io::Compression::kGzip:
      return oci::kOciLayerGzip;
    case io::Compression::kZstd:
      return oci::kOciLayerZstd;
    case io::Compression::kNone:
      return oci::kOciLayerTar;
  }
  return oci::kOciLayerTar;
}

Status read_config(Contents& contents, const Plan& plan, ImportedImage& image) {
  auto raw = contents.document(plan.config_path);
  if (!raw.ok()) return Error(kKind, plan.config_where + ": " + raw.error().message());
  std::string digest = oci::Digest::of(*raw).str();
  if (plan.config_digest && digest != plan.config_digest->str()) {
    return Error(kKind, plan.config_where + ": " + plan.config_path + " has digest " + digest +
                            ", not " + plan.config_digest->str());
  }
  if (plan.config_size && static_cast<int64_t>(raw->size()) != *plan.config_size) {
    return Error(kKind, plan.config_where + ": " + plan.config_path + " is " +
                            std::to_string(raw->size()) + " bytes, not " +
                            std::to_string(*plan.config_size));
  }
  auto config = oci::parse_image_config(*raw);
  if (!config.ok()) return Error(kKind, plan.config_path + ": " + config.error().message());
  image.config = std::move(config).value();
  image.config_digest = std::move(digest);
  image.config_raw = std::move(raw).value();
  return {};
}

Result<LayerBlob> read_layer(Contents& contents, const LayerRef& ref, const oci::Digest& diff_id,
                             size_t i) {
  std::string what = "layer " + std::to_string(i + 1) + " (" + ref.where + ", " + ref.path + ")";
  auto stored = contents.layer(ref.path);
  if (!stored.ok()) return std::move(stored).error().context(what);
  if (ref.digest && stored->digest != ref.digest->str()) {
    return Error(kKind, what + ": blob digest mismatch: the archive promises " + ref.digest->str() +
                            ", the bytes hash to " + stored->digest);
  }
  if (ref.size && stored->size != static_cast<uint64_t>(*ref.size)) {
    return Error(kKind, what + ": blob size mismatch: the manifest says " +
                            std::to_string(*ref.size) + " bytes, the archive has " +
                            std::to_string(stored->size));
  }
  if (stored->failure) return Error(*stored->failure).context(what);
  if (stored->converted.diff_id != diff_id.str()) {
    return Error(kKind, what + ": DiffID mismatch: the uncompressed layer hashes to " +
                            stored->converted.diff_id + ", the config's rootfs.diff_ids[" +
                            std::to_string(i) + "] is " + diff_id.str());
  }
  LayerBlob out;
  out.member_path = stored->path;
  out.compression = stored->compression;
  out.media_type =
      ref.media_type.empty() ? std::string(layer_media_type(stored->compression)) : ref.media_type;
  out.diff_id = stored->converted.diff_id;
  out.compressed_digest = stored->digest;
  out.compressed_size = stored->size;
  out.handle = stored->converted.handle;
  return out;
}

// A compact OCI manifest (nlohmann sorts object keys) over the config and the
// layer blobs as stored: the same archive always yields the same digest.
void synthesize_manifest(ImportedImage& image) {
  nlohmann::json m = nlohmann::json::object();
  m["schemaVersion"] = 2;
  m["mediaType"] = oci::kOciManifest;
  m["config"] = {{"mediaType", oci::kOciConfig},
                 {"digest", image.config_digest},
                 {"size", image.config_raw.size()}};
  m["layers"] = nlohmann::json::array();
  for (const LayerBlob& l : image.layers) {
    m["layers"].push_back({{"mediaType", l.media_type},
                           {"digest", l.compressed_digest},
                           {"size", l.compressed_size}});
  }
  image.manifest_raw = m.dump();
  image.manifest_digest = oci::Digest::of(image.manifest_raw).str();
  image.manifest_media_type = oci::kOciManifest;
  image.manifest_synthesized = true;
}


Result<ImportedImage> finish(Contents& contents, const ImportOptions& options) {
  VMI_TRY(Plan plan, resolve_plan(contents, options));
  ImportedImage image;
  image.format = plan.format;
  image.names = plan.names;
  image.name = plan.name;
  VMI_CHECK(read_config(contents, plan, image));
  const std::vector<oci::Digest>& diff_ids = image.config.diff_ids;
  if (diff_ids.size() != plan.layers.size()) {
    return Error(kKind, "the image lists " + std::to_string(plan.layers.size()) +
                            " layers but its config " + plan.config_path + " has " +
                            std::to_string(diff_ids.size()) + " rootfs.diff_ids");
  }
  for (size_t i = 0; i < plan.layers.size(); ++i) {
    VMI_TRY(LayerBlob layer, read_layer(contents, plan.layers[i], diff_ids[i], i));
    image.layers.push_back(std::move(layer));
  }
  if (plan.manifest) {
    image.manifest_digest = plan.manifest->digest;
    image.manifest_media_type = plan.manifest->media_type;
    image.manifest_raw = plan.manifest->raw;
  } else {
    synthesize_manifest(image);
  }
  return image;
}

// Formats of whole-archive compression vmimage does not read, for a clear message.
std::optional<std::string> unsupported_compression(std::span<const std::byte> head) {
  auto starts = [&](std::string_view magic) {
    if (head.size() < magic.size()) return false;
    return std::equal(magic.begin(), magic.end(), head.begin(), [](char a, std::byte b) {
      return static_cast<uint8_t>(a) == std::to_integer<uint8_t>(b);
    });
  };
  if (starts("BZh")) return "bzip2";
  if (starts("\xfd"
             "7zXZ"))
    return "xz";
  if (starts("PK\x03\x04")) return "zip";
  return std::nullopt;
}

}  // namespace


Result<ImportedImage> import_archive(io::Reader& archive, BlobHandler& handler,
                                     const ImportOptions& options) {
  auto peek = std::make_unique<io::PeekReader>(std::make_unique<BorrowedReader>(archive));
  auto head = peek->peek(8);
  if (!head.ok()) return Error(kKind, "reading the archive: " + head.error().message());
  if (head->empty()) return Error(kKind, "the archive is empty (no data at all)");
  if (auto other = unsupported_compression(*head)) {
    return Error(kKind, "the archive is " + *other +
                            "-compressed; vmimage reads tar archives, "
                            "plain or compressed with gzip or zstd");
  }
  VMI_TRY(io::Decompressed tar, io::open_decompressed(std::move(peek), "archive"));
  TarContents contents(handler, options);
  VMI_CHECK(walk_tar(
      *tar.reader, "archive",
      [&](const TarMember& member, MemberReader& data) { return contents.add_member(member, data); },
      options.max_trailing_bytes));
  return finish(contents, options);
}

Result<ImportedImage> import_directory(const std::string& dir, BlobHandler& handler,
                                       const ImportOptions& options) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return sys_error(kKind, "opening directory " + dir);
  if (!S_ISDIR(st.st_mode)) return Error(kKind, dir + " is not a directory");
  DirContents contents(dir, handler, options);
  auto image = finish(contents, options);
  if (!image.ok()) return std::move(image).error().context(dir);
  return image;
}

}  // namespace vmimage::archive
