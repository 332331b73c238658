// Publishing a stored image to a registry as an EROFS-native OCI image (the
// format containerd's EROFS snapshotter runs): the layers are vmimage's EROFS
// lowers, raw (application/vnd.erofs.layer.v1); the config is the source's
// with rootfs.diff_ids set to the digests of those lowers.
#pragma once

#include <functional>
#include <map>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/cancel.h"
#include "oci/reference.h"
#include "source/registry/client.h"
#include "vmimage/result.h"
#include "vmimage/store.h"

namespace vmimage::builder {

// The manifest's annotations (besides the layout): where the layers came from.
inline constexpr std::string_view kSourceManifestAnnotation = "io.vmimage.source.manifest";
inline constexpr std::string_view kSourceIndexAnnotation = "io.vmimage.source.index";
inline constexpr std::string_view kFormatAnnotation = "io.vmimage.format";
inline constexpr std::string_view kLayoutAnnotation = "io.vmimage.layout";
inline constexpr std::string_view kCompressionAnnotation = "io.vmimage.compression";
inline constexpr std::string_view kFormatVersion = "1";
// "true" when every layer ends with a dm-verity tree, whose parameters its
// descriptor's annotations give (docs/verity.md).
inline constexpr std::string_view kVerityAnnotation = "io.vmimage.verity";
inline constexpr std::string_view kVerityRootHashAnnotation = "io.vmimage.verity.root-hash";
inline constexpr std::string_view kVeritySaltAnnotation = "io.vmimage.verity.salt";
inline constexpr std::string_view kVerityDataSizeAnnotation = "io.vmimage.verity.data-size";
inline constexpr std::string_view kVerityHashOffsetAnnotation = "io.vmimage.verity.hash-offset";

enum class PushLayout { kLayered, kSquashed };
// How layers travel: raw EROFS images, or each in one zstd frame (written
// single-threaded at kPushZstdLevel, so equal blobs give equal frames with the
// same libzstd) whose DiffID stays the raw image's digest.
enum class PushCompression { kNone, kZstd };
inline constexpr int kPushZstdLevel = 3;

// The artifactType of a converted image that names its source as `subject`
// (what `pull --converted-repo` looks for among the source's referrers).
inline constexpr std::string_view kConvertedArtifactType = "application/vnd.vmimage.erofs.v1";

// Per-layer progress of a push, from the thread pushing that layer; never two
// calls at once.
struct PushEvent {
  enum class Kind {
    kPreparing,  // layer `index`: hashing or compressing it (total = its size)
    kBytes,      // `done` of `total` bytes sent
    kExists,     // the repository has the blob
    kMounted,    // linked from another repository of the registry
    kUploaded,   // sent
    kManifest,   // index -1: the manifest is stored; digest = its digest
    kIndex,      // index -1: the image index is stored at dest's tag; digest = its digest
    kSkipped,    // index -1: `platform` is left out of the index; `message` says why
  };
  Kind kind = Kind::kPreparing;
  int index = -1;
  std::string digest;  // the blob's, when known
  uint64_t done = 0;
  uint64_t total = 0;
  // In a push of several platforms: the platform ("linux/arm64/v8") whose
  // image the event is about; "" for the index and in single-image pushes.
  std::string platform;
  std::string message;  // kSkipped: why
};
using PushEvents = std::function<void(const PushEvent&)>;

struct PushOptions {
  PushLayout layout = PushLayout::kLayered;
  PushCompression compression = PushCompression::kNone;
  // The source's manifest: the pushed manifest names it as its subject (OCI
  // 1.1), with artifactType kConvertedArtifactType.
  std::optional<oci::Descriptor> subject;
  bool by_digest = false;  // store the manifest under its digest, not dest's tag
  int jobs = 3;            // layers uploaded at once (1..kMaxPushJobs)
  PushEvents events;       // may be empty
};
inline constexpr int kMaxPushJobs = 64;
std::optional<PushLayout> parse_push_layout(std::string_view name);  // "layered", "squashed"
std::string_view push_layout_name(PushLayout layout);
std::optional<PushCompression> parse_push_compression(std::string_view name);  // "none", "zstd"
std::string_view push_compression_name(PushCompression compression);

struct PushedBlob {
  std::string digest;
  uint64_t size = 0;
  bool uploaded = false;  // false: the registry had it, or mounted it
  bool mounted = false;   // linked from another repository of the registry
};

// One platform's image in an index push.
struct PushedPlatform {
  std::string platform;   // "linux/arm64/v8"
  std::string image;      // the stored image pushed for it (its tag)
  std::string reference;  // REPOSITORY@DIGEST: its manifest
  std::string digest;
  uint64_t size = 0;
  std::vector<PushedBlob> layers;
  PushedBlob config;
};

// The image index a push of several platforms stores at dest's tag.
struct PushedIndex {
  std::string reference;  // dest, with its tag
  std::string digest;
  uint64_t size = 0;
  std::vector<PushedPlatform> platforms;  // as the index lists them (by platform)
};

struct PushResult {
  std::string reference;           // where the image went
  std::string digest;              // its manifest's digest
  uint64_t size = 0;               // its manifest's size
  std::map<std::string, std::string> annotations;  // its manifest's
  std::vector<PushedBlob> layers;  // base first
  PushedBlob config;
  // Set when the store held other platforms of SRC's source index and they
  // went up with it: the fields above are SRC's own manifest (pushed by
  // digest), the index at dest's tag lists every platform's.
  std::optional<PushedIndex> index;
};

// The image config to publish: `config` (the source's document) with
// rootfs.diff_ids replaced by `diff_ids`; with one layer for several
// (squashed), the history, which would no longer match, is left out.
Result<std::string> converted_config(std::string_view config,
                                     const std::vector<std::string>& diff_ids, bool squashed);

// Why `image` (`name` in messages) cannot be pushed with `layout`, if it cannot.
Status check_pushable(const StoredImage& image, std::string_view name, PushLayout layout);

// Pushes a stored image of `store` (`name` in messages) to `dest` (its tag,
// or :latest). Blobs the repository has are not uploaded again. A raw blob's
// sha256 is read from the store when known, else hashed once and recorded
// there; a zstd layer is compressed and hashed in one read of the blob.
Result<PushResult> push_image(Store& store, const StoredImage& image, std::string_view name,
                              registry::Client& client, const oci::Reference& dest,
                              const PushOptions& options, io::CancelFlag cancel = nullptr);

// `vmimage push SRC DEST`: the stored image SRC (looked up as find_image does)
// to DEST, a reference with a tag (or none: :latest) but no digest. When the
// store holds other platforms of the index SRC was chosen from, each goes up
// by digest and an image index listing them is stored at DEST's tag
// (push_index.h).
Result<PushResult> push_stored(Store& store, std::string_view src, std::string_view dest,
                               registry::Client& client, const PushOptions& options,
                               io::CancelFlag cancel = nullptr);

// The `push --json` document: reference, digest, layout, compression, config,
// layers; and with an index, "index": reference, digest, size and platforms.
nlohmann::ordered_json push_result_json(const PushResult& pushed, const PushOptions& options);

}  // namespace vmimage::builder
