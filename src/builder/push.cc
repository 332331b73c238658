// Push: a stored image published as an EROFS-native OCI image (see push.h).
#include "builder/push.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

#include <zstd.h>
#include <nlohmann/json.hpp>

#include "builder/push_index.h"
#include "io/sha256.h"
#include "oci/media_types.h"
#include "store/find_image.h"
#include "util/file.h"
#include "util/parallel.h"

namespace vmimage::builder {
namespace {

constexpr ErrorKind kKind = ErrorKind::kPushImage;
constexpr size_t kHashChunk = 1 << 20;
// Repositories a missing blob is asked to be mounted from before uploading it.
constexpr int kMaxMountAttempts = 3;

// Mounts the blob from another repository of dest's registry that the store
// knows to hold it; false when none does (or the registry will not).
Result<bool> mount_from_elsewhere(Store& store, registry::Client& client,
                                  const oci::Reference& dest, const oci::Digest& digest,
                                  io::CancelFlag cancel) {
  VMI_TRY(std::vector<std::string> locations, store.blob_locations(digest.str()));
  int tried = 0;
  for (const std::string& location : locations) {
    auto from = oci::parse_reference(location);
    if (!from || from->domain != dest.domain || from->path == dest.path) continue;
    if (++tried > kMaxMountAttempts) break;
    VMI_TRY(bool mounted, client.mount_blob(dest, digest, from->path, cancel));
    if (mounted) return true;
  }
  return false;
}

// One layer's progress, as PushOptions::events takes it.
class LayerProgress {
 public:
  LayerProgress(const PushEvents& events, int index) : events_(events), index_(index) {}
  void operator()(PushEvent::Kind kind, const std::string& digest, uint64_t done,
                  uint64_t total) const {
    if (!events_) return;
    events_(PushEvent{kind, index_, digest, done, total});
  }
  // kBytes events of an upload of `total` bytes.
  registry::UploadProgress bytes(const std::string& digest, uint64_t total) const {
    if (!events_) return {};
    return [this, digest, total](uint64_t sent) {
      (*this)(PushEvent::Kind::kBytes, digest, sent, total);
    };
  }

 private:
  const PushEvents& events_;
  int index_;
};

// The upload of `blob` (the bytes' digest, or their store blob) into dest
// that an earlier push left part way, and how this one is kept in the store
// as it goes, so that a push killed mid-blob goes on from there next time.
Result<registry::UploadJournal> upload_journal(Store& store, const oci::Reference& dest,
                                               const std::string& blob) {
  registry::UploadJournal journal;
  VMI_TRY(journal.resume_url, store.kept_upload(dest.name(), blob));
  journal.note = [&store, repository = dest.name(), blob](const std::string& url) {
    return store.keep_upload(repository, blob, url);
  };
  return journal;
}

// The first `size` bytes of `fd` as blob `digest`, unless the repository has
// it or can mount it; the store learns that dest holds it.
Result<PushedBlob> upload_file(Store& store, registry::Client& client, const oci::Reference& dest,
                               int fd, uint64_t size, const std::string& digest_text,
                               const LayerProgress& progress, io::CancelFlag cancel) {
  PushedBlob blob{digest_text, size, false};
  VMI_TRY(oci::Digest digest, oci::Digest::parse(digest_text, kKind));
  VMI_TRY(bool present, client.has_blob(dest, digest, cancel));
  if (!present) {
    VMI_TRY(blob.mounted, mount_from_elsewhere(store, client, dest, digest, cancel));
    if (!blob.mounted) {
      VMI_TRY(registry::UploadJournal journal, upload_journal(store, dest, digest_text));
      VMI_CHECK(client.upload_blob(dest, digest, fd, size, cancel,
                                   progress.bytes(digest_text, size), &journal));
      blob.uploaded = true;
    }
  }
  // A session an earlier push left for these bytes is of no more use.
  if (!blob.uploaded) VMI_CHECK(store.keep_upload(dest.name(), digest_text, ""));
  VMI_CHECK(store.record_blob_location(digest_text, dest.name()));
  progress(blob.uploaded  ? PushEvent::Kind::kUploaded
           : blob.mounted ? PushEvent::Kind::kMounted
                          : PushEvent::Kind::kExists,
           digest_text, size, size);
  return blob;
}

// A lower's sha256 as the store records it; "" when nobody hashed it yet.
Result<std::string> known_sha256(Store& store, const LayerRef& lower) {
  VMI_TRY(std::optional<BlobRecord> record, store.find_blob(lower.digest, lower.fs_type));
  return record ? record->content_digest : std::string();
}

struct Compressed {
  UniqueFd file;  // the zstd frame
  uint64_t size = 0;
  std::string digest;      // of the frame
  std::string raw_digest;  // of the image (its DiffID)
};

// The image in `fd` as one zstd frame in a scratch file of `dir`, both
// digests computed on the way.
Result<Compressed> compress_zstd(int fd, const std::string& path, const std::string& dir,
                                 io::CancelFlag cancel) {
  Compressed out;
  VMI_TRY(out.file, open_scratch_file(dir));
  struct stat st {};
  if (::fstat(fd, &st) != 0) return sys_error(ErrorKind::kIo, "reading " + path);
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  if (!cctx) return Error(kKind, "out of memory for a zstd context");
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, kPushZstdLevel);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1);
  ZSTD_CCtx_setPledgedSrcSize(cctx.get(), static_cast<unsigned long long>(st.st_size));
  io::Sha256 raw_hash, frame_hash;
  std::vector<std::byte> in(kHashChunk), frame(ZSTD_CStreamOutSize());
  auto emit = [&](ZSTD_outBuffer& o) -> Status {
    auto bytes = std::span(frame.data(), o.pos);
    frame_hash.update(bytes);
    VMI_CHECK(write_all(out.file.get(), bytes, "the compressed layer"));
    out.size += o.pos;
    return {};
  };
  for (uint64_t offset = 0;;) {
    VMI_CHECK(io::check_cancel(cancel));
    ssize_t n = ::pread(fd, in.data(), in.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error(ErrorKind::kIo, "reading " + path);
    offset += static_cast<uint64_t>(n);
    raw_hash.update(std::span(in.data(), static_cast<size_t>(n)));
    ZSTD_inBuffer input{in.data(), static_cast<size_t>(n), 0};
    ZSTD_EndDirective mode = n == 0 ? ZSTD_e_end : ZSTD_e_continue;
    for (;;) {
      ZSTD_outBuffer o{frame.data(), frame.size(), 0};
      size_t left = ZSTD_compressStream2(cctx.get(), &o, &input, mode);
      if (ZSTD_isError(left)) {
        return Error(kKind, "compressing " + path + ": " + ZSTD_getErrorName(left));
      }
      VMI_CHECK(emit(o));
      if (mode == ZSTD_e_end ? left == 0 : input.pos == input.size) break;
    }
    if (n == 0) break;
  }
  out.digest = frame_hash.finish_digest();
  out.raw_digest = raw_hash.finish_digest();
  return out;
}

// Lower `index` into the repository: its layer descriptor's blob and its DiffID.
Result<std::pair<PushedBlob, std::string>> push_lower(Store& store, registry::Client& client,
                                                      const oci::Reference& dest,
                                                      const LayerRef& lower, int index,
                                                      const PushOptions& options,
                                                      io::CancelFlag cancel) {
  LayerProgress progress(options.events, index);
  VMI_TRY(UniqueFd fd, open_read(lower.path));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return sys_error(ErrorKind::kIo, "reading " + lower.path);
  auto size = static_cast<uint64_t>(st.st_size);
  if (options.compression == PushCompression::kZstd) {
    progress(PushEvent::Kind::kPreparing, {}, 0, size);
    VMI_TRY(Compressed z, compress_zstd(fd.get(), lower.path, store.scratch_dir(), cancel));
    VMI_TRY(PushedBlob blob,
            upload_file(store, client, dest, z.file.get(), z.size, z.digest, progress, cancel));
    return std::pair{blob, z.raw_digest};
  }
  VMI_TRY(std::string digest, known_sha256(store, lower));
  if (digest.empty()) {
    // Never hashed here (converted here, never pushed): hashed as it uploads,
    // in the one read of the blob; the registry cannot be asked first.
    std::string name = "store:" + lower.digest + "/" + std::string(fs_type_name(lower.fs_type));
    VMI_TRY(registry::UploadJournal journal, upload_journal(store, dest, name));
    journal.hashed = [&](const oci::Digest& digest) {
      return store.set_content_digest(lower.digest, lower.fs_type, digest.str());
    };
    VMI_TRY(oci::Digest uploaded, client.upload_blob_hashing(dest, fd.get(), size, cancel,
                                                             progress.bytes({}, size), &journal));
    VMI_CHECK(store.record_blob_location(uploaded.str(), dest.name()));
    progress(PushEvent::Kind::kUploaded, uploaded.str(), size, size);
    return std::pair{PushedBlob{uploaded.str(), size, true}, uploaded.str()};
  }
  VMI_TRY(PushedBlob blob,
          upload_file(store, client, dest, fd.get(), size, digest, progress, cancel));
  return std::pair{blob, digest};
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

Status check_pushable(const StoredImage& image, std::string_view name, PushLayout layout) {
  std::string tag(name);
  if (image.meta.config.empty()) {
    return Error(kKind, tag +
                            " was stored by a vmimage that did not keep the image config: "
                            "pull or import it again to push it");
  }
  const std::vector<LayerRef>& lowers =
      layout == PushLayout::kSquashed ? image.result.layers : image.result.canonical_layers;
  if (layout == PushLayout::kSquashed && lowers.size() != 1) {
    return Error(kKind, tag + " has no squashed lower (stored with " +
                            std::to_string(lowers.size()) +
                            " lowers): pull or import it with --layout squashed, or push "
                            "--layout layered");
  }
  for (const LayerRef& lower : lowers) {
    if (lower.fs_type != FsType::kErofs) {
      return Error(kKind, tag + ": lower " + lower.digest + " is not EROFS");
    }
  }
  return {};
}

Result<PushResult> push_image(Store& store, const StoredImage& image, std::string_view name,
                              registry::Client& client, const oci::Reference& dest,
                              const PushOptions& options, io::CancelFlag cancel) {
  VMI_CHECK(check_pushable(image, name, options.layout));
  bool squashed = options.layout == PushLayout::kSquashed;
  bool zstd = options.compression == PushCompression::kZstd;
  const std::vector<LayerRef>& lowers =
      squashed ? image.result.layers : image.result.canonical_layers;
  if (options.jobs < 1 || options.jobs > kMaxPushJobs) {
    return Error(ErrorKind::kUsage, "push jobs must be 1 to " + std::to_string(kMaxPushJobs) +
                                        ", not " + std::to_string(options.jobs));
  }
  PushResult result;
  result.reference = dest.str();
  result.layers.resize(lowers.size());
  std::vector<std::string> diff_ids(lowers.size());
  PushOptions one_at_a_time = options;
  std::mutex events_mu;
  if (options.events) {
    one_at_a_time.events = [&](const PushEvent& e) {
      std::lock_guard<std::mutex> lock(events_mu);
      options.events(e);
    };
  }
  // A layer that fails stops the others: its error is the push's, not
  // theirs (cancelled).
  io::StopFlag stop(cancel);
  std::optional<Error> failure;
  Status all = parallel_for(lowers.size(), options.jobs, [&](size_t i) -> Status {
    auto pushed = push_lower(store, client, dest, lowers[i], static_cast<int>(i), one_at_a_time,
                             stop.flag());
    if (!pushed) {
      Error e = std::move(pushed).error().context("pushing " + lowers[i].path);
      std::lock_guard<std::mutex> lock(events_mu);
      if (!failure && !stop.flag()->load()) failure = e;
      stop.stop();
      return e;
    }
    result.layers[i] = pushed->first;
    diff_ids[i] = pushed->second;
    return {};
  });
  VMI_CHECK(io::check_cancel(cancel));
  if (failure) return *failure;
  VMI_CHECK(std::move(all));
  VMI_TRY(std::string config, converted_config(image.meta.config, diff_ids, squashed));
  VMI_TRY(result.config, push_document(client, dest, config, cancel));

  nlohmann::ordered_json manifest = {
      {"schemaVersion", 2},
      {"mediaType", oci::kOciManifest},
  };
  if (options.subject) manifest["artifactType"] = kConvertedArtifactType;
  manifest["config"] = descriptor(oci::kOciConfig, result.config);
  manifest["layers"] = nlohmann::ordered_json::array();
  bool verity = true;
  for (size_t i = 0; i < result.layers.size(); ++i) {
    nlohmann::ordered_json layer =
        descriptor(zstd ? oci::kErofsLayerZstd : oci::kErofsLayer, result.layers[i]);
    // The tree travels inside the blob, its root hash here: a host that pulls
    // the image can open each layer with dm-verity trusting only the digests.
    if (const std::optional<VerityInfo>& v = lowers[i].verity) {
      layer["annotations"] = {{kVerityRootHashAnnotation, v->root_hash},
                              {kVeritySaltAnnotation, v->salt},
                              {kVerityDataSizeAnnotation, std::to_string(v->data_size)},
                              {kVerityHashOffsetAnnotation, std::to_string(v->hash_offset)}};
    } else {
      verity = false;
    }
    manifest["layers"].push_back(layer);
  }
  nlohmann::ordered_json annotations = {
      {kSourceManifestAnnotation, image.meta.digest},
      {kFormatAnnotation, kFormatVersion},
      {kLayoutAnnotation, squashed ? "squashed" : "layered"},
      {kCompressionAnnotation, zstd ? "zstd" : "none"},
      {kVerityAnnotation, verity ? "true" : "false"},
  };
  if (!image.meta.index_digest.empty()) {
    annotations[std::string(kSourceIndexAnnotation)] = image.meta.index_digest;
  }
  if (options.subject) {
    const oci::Descriptor& s = *options.subject;
    manifest["subject"] = {
        {"mediaType", s.media_type}, {"digest", s.digest.str()}, {"size", s.size}};
  }
  manifest["annotations"] = annotations;
  for (auto& [key, value] : annotations.items()) result.annotations[key] = value.get<std::string>();
  std::string bytes = manifest.dump();
  result.digest = io::sha256_digest(bytes);
  result.size = bytes.size();
  oci::Reference target = dest;
  if (options.by_digest) {
    VMI_TRY(oci::Digest digest, oci::Digest::parse(result.digest, kKind));
    target.tag.clear();
    target.digest = digest;
    result.reference = target.str();
  }
  VMI_CHECK(client.put_manifest(target, std::string(oci::kOciManifest), bytes, cancel));
  if (options.events)
    options.events(PushEvent{PushEvent::Kind::kManifest, -1, result.digest, 0, 0});
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

std::optional<PushCompression> parse_push_compression(std::string_view name) {
  if (name == "none") return PushCompression::kNone;
  if (name == "zstd") return PushCompression::kZstd;
  return std::nullopt;
}

std::string_view push_compression_name(PushCompression compression) {
  return compression == PushCompression::kZstd ? "zstd" : "none";
}

Result<PushResult> push_stored(Store& store, std::string_view src, std::string_view dest,
                               registry::Client& client, const PushOptions& options,
                               io::CancelFlag cancel) {
  VMI_TRY(oci::Reference ref, oci::parse_reference(dest));
  if (ref.digest) return Error(ErrorKind::kUsage, "DEST takes a tag, not a digest");
  VMI_TRY(FoundImage found, find_image(store, src));
  VMI_TRY(std::vector<PlatformImage> platforms,
          index_platforms(store, found, options.layout, options.events));
  if (platforms.size() > 1) return push_index(store, platforms, client, ref, options, cancel);
  return push_image(store, found.image, found.tag, client, ref, options, cancel);
}

nlohmann::ordered_json push_result_json(const PushResult& pushed, const PushOptions& options) {
  auto blob_json = [](const PushedBlob& b) -> nlohmann::ordered_json {
    return {
        {"digest", b.digest}, {"size", b.size}, {"uploaded", b.uploaded}, {"mounted", b.mounted}};
  };
  auto layers_json = [&](const std::vector<PushedBlob>& blobs) {
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (const PushedBlob& l : blobs) layers.push_back(blob_json(l));
    return layers;
  };
  nlohmann::ordered_json doc = {{"reference", pushed.reference},
                                {"digest", pushed.digest},
                                {"layout", push_layout_name(options.layout)},
                                {"compression", push_compression_name(options.compression)},
                                {"config", blob_json(pushed.config)},
                                {"layers", layers_json(pushed.layers)}};
  if (!pushed.index) return doc;
  nlohmann::ordered_json platforms = nlohmann::ordered_json::array();
  for (const PushedPlatform& p : pushed.index->platforms) {
    platforms.push_back({{"platform", p.platform},
                         {"image", p.image},
                         {"reference", p.reference},
                         {"digest", p.digest},
                         {"size", p.size},
                         {"config", blob_json(p.config)},
                         {"layers", layers_json(p.layers)}});
  }
  doc["index"] = {{"reference", pushed.index->reference},
                  {"digest", pushed.index->digest},
                  {"size", pushed.index->size},
                  {"platforms", platforms}};
  return doc;
}

}  // namespace vmimage::builder
