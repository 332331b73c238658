// Push: a stored image published as an EROFS-native OCI image (see push.h).
#include "builder/push.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <nlohmann/json.hpp>

#include "io/sha256.h"
#include "oci/media_types.h"
#include "store/find_image.h"
#include "util/file.h"

namespace vmimage::builder {
namespace {

constexpr ErrorKind kKind = ErrorKind::kPushImage;
constexpr size_t kHashChunk = 1 << 20;

Result<std::string> file_sha256(int fd, const std::string& path, io::CancelFlag cancel) {
  io::Sha256 hash;
  std::vector<std::byte> buf(kHashChunk);
  for (uint64_t offset = 0;;) {
    VMI_CHECK(io::check_cancel(cancel));
    ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error(ErrorKind::kIo, "reading " + path);
    if (n == 0) break;
    hash.update(std::span(buf.data(), static_cast<size_t>(n)));
    offset += static_cast<uint64_t>(n);
  }
  return hash.finish_digest();
}

// Uploads the file unless the repository has it already.
Result<PushedBlob> push_file(registry::Client& client, const oci::Reference& dest,
                             const std::string& path, io::CancelFlag cancel) {
  VMI_TRY(UniqueFd fd, open_read(path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return sys_error(ErrorKind::kIo, "reading " + path);
  PushedBlob blob;
  blob.size = static_cast<uint64_t>(st.st_size);
  VMI_TRY(blob.digest, file_sha256(fd.get(), path, cancel));
  VMI_TRY(oci::Digest digest, oci::Digest::parse(blob.digest, kKind));
  VMI_TRY(bool present, client.has_blob(dest, digest, cancel));
  if (!present) {
    VMI_CHECK(client.upload_blob(dest, digest, fd.get(), blob.size, cancel));
    blob.uploaded = true;
  }
  return blob;
}

Result<PushedBlob> push_document(registry::Client& client, const oci::Reference& dest,
                                 const std::string& bytes, io::CancelFlag cancel) {
  PushedBlob blob;
  blob.size = bytes.size();
  blob.digest = io::sha256_digest(bytes);
  VMI_TRY(oci::Digest digest, oci::Digest::parse(blob.digest, kKind));
  VMI_TRY(bool present, client.has_blob(dest, digest, cancel));
  if (present) return blob;
  VMI_CHECK(client.upload_blob(dest, digest, bytes, cancel));
  blob.uploaded = true;
  return blob;
}

nlohmann::ordered_json descriptor(std::string_view media_type, const PushedBlob& blob) {
  return {{"mediaType", media_type}, {"digest", blob.digest}, {"size", blob.size}};
}

}  // namespace

Result<std::string> converted_config(std::string_view config,
                                     const std::vector<std::string>& diff_ids, bool squashed) {
  nlohmann::ordered_json doc = nlohmann::ordered_json::parse(config, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Error(kKind, "the stored image config is not a JSON object");
  }
  doc["rootfs"] = {{"type", "layers"}, {"diff_ids", diff_ids}};
  if (squashed) doc.erase("history");
  return doc.dump();
}

Result<PushResult> push_image(const StoredImage& image, std::string_view name,
                              registry::Client& client, const oci::Reference& dest,
                              PushLayout layout, io::CancelFlag cancel) {
  std::string tag(name);
  if (image.meta.config.empty()) {
    return Error(kKind, tag +
                            " was stored by a vmimage that did not keep the image config: "
                            "pull or import it again to push it");
  }
  bool squashed = layout == PushLayout::kSquashed;
  const std::vector<LayerRef>& lowers =
      squashed ? image.result.layers : image.result.canonical_layers;
  if (squashed && lowers.size() != 1) {
    return Error(kKind, tag + " has no squashed lower (stored with " +
                            std::to_string(lowers.size()) +
                            " lowers): pull or import it with --layout squashed, or push "
                            "--layout layered");
  }
  PushResult result;
  result.reference = dest.str();
  std::vector<std::string> diff_ids;
  for (const LayerRef& lower : lowers) {
    if (lower.fs_type != FsType::kErofs) {
      return Error(kKind, tag + ": lower " + lower.digest + " is not EROFS");
    }
    auto blob = push_file(client, dest, lower.path, cancel);
    if (!blob) return std::move(blob).error().context("pushing " + lower.path);
    diff_ids.push_back(blob->digest);
    result.layers.push_back(*blob);
  }
  VMI_TRY(std::string config, converted_config(image.meta.config, diff_ids, squashed));
  VMI_TRY(result.config, push_document(client, dest, config, cancel));

  nlohmann::ordered_json manifest = {
      {"schemaVersion", 2},
      {"mediaType", oci::kOciManifest},
      {"config", descriptor(oci::kOciConfig, result.config)},
      {"layers", nlohmann::ordered_json::array()},
  };
  for (const PushedBlob& blob : result.layers) {
    manifest["layers"].push_back(descriptor(oci::kErofsLayer, blob));
  }
  nlohmann::ordered_json annotations = {
      {kSourceManifestAnnotation, image.meta.digest},
      {kFormatAnnotation, kFormatVersion},
      {kLayoutAnnotation, squashed ? "squashed" : "layered"},
      {kCompressionAnnotation, "none"},
  };
  if (!image.meta.index_digest.empty()) {
    annotations[std::string(kSourceIndexAnnotation)] = image.meta.index_digest;
  }
  manifest["annotations"] = annotations;
  std::string bytes = manifest.dump();
  VMI_CHECK(client.put_manifest(dest, std::string(oci::kOciManifest), bytes, cancel));
  result.digest = io::sha256_digest(bytes);
  return result;
}

std::optional<PushLayout> parse_push_layout(std::string_view name) {
  if (name == "layered") return PushLayout::kLayered;
  if (name == "squashed") return PushLayout::kSquashed;
  return std::nullopt;
}

std::string_view push_layout_name(PushLayout layout) {
  return layout == PushLayout::kSquashed ? "squashed" : "layered";
}

Result<PushResult> push_stored(Store& store, std::string_view src, std::string_view dest,
                               registry::Client& client, PushLayout layout, io::CancelFlag cancel) {
  VMI_TRY(oci::Reference ref, oci::parse_reference(dest));
  if (ref.digest) return Error(ErrorKind::kUsage, "DEST takes a tag, not a digest");
  VMI_TRY(FoundImage found, find_image(store, src));
  return push_image(found.image, found.tag, client, ref, layout, cancel);
}

nlohmann::ordered_json push_result_json(const PushResult& pushed, PushLayout layout) {
  auto blob_json = [](const PushedBlob& b) -> nlohmann::ordered_json {
    return {{"digest", b.digest}, {"size", b.size}, {"uploaded", b.uploaded}};
  };
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (const PushedBlob& l : pushed.layers) layers.push_back(blob_json(l));
  return {{"reference", pushed.reference},
          {"digest", pushed.digest},
          {"layout", push_layout_name(layout)},
          {"config", blob_json(pushed.config)},
          {"layers", layers}};
}

}  // namespace vmimage::builder
