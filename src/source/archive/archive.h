// Importing images from archives: `docker save` (classic and Docker 25+ with an
// OCI layout inside), OCI image layouts as a tar (oci-archive) or a directory.
// Layer blobs are handed to a BlobHandler as they stream past; the small JSON
// documents stay in memory and decide, when the archive ends, which image it
// holds, its layer order, DiffIDs and names.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "io/decompress.h"
#include "io/reader.h"
#include "oci/image_config.h"
#include "oci/platform.h"
#include "vmimage/result.h"

namespace vmimage::archive {

// What a handler made of one blob.
struct ConvertedBlob {
  std::string diff_id;  // "sha256:..." of the uncompressed layer tar
  uint64_t handle = 0;  // the handler's own id for what it produced
};

// Receives each layer-like blob once, while the archive streams past (or, for
// a layer that was small enough to be kept in memory or for a directory, when
// the image is resolved). `stream` yields the bytes as stored (gzip, zstd or
// plain tar); the handler decompresses by magic, converts, and should read to
// the end. Errors keep their kind; the import adds the member path as context.
// A handle may end up unreferenced (another image's layer, a blob of another
// platform); when the import fails, none of them is.
class BlobHandler {
 public:
  virtual ~BlobHandler() = default;
  virtual Result<ConvertedBlob> on_blob(const std::string& member_path, io::Reader& stream) = 0;
};

struct ImportOptions {
  // Selects an image by name ("NAME[:TAG]", matched against RepoTags and the
  // io.containerd.image.name / org.opencontainers.image.ref.name annotations,
  // raw or normalized) or by config/manifest digest ("sha256:..." or at least
  // 12 hex digits of one). Needed only when the archive holds several images.
  std::optional<std::string> ref;
  // Chooses among the entries of a multi-platform index.
  oci::Platform platform = oci::host_platform();
  // Members that are not layers are kept in memory: each at most this big...
  size_t max_document_bytes = size_t{4} << 20;
  // ...and all of them together at most this much.
  size_t max_metadata_bytes = size_t{64} << 20;
  // Layer-like members converted while the archive streams past (each holds a
  // converted blob until the image is resolved).
  size_t max_blobs = 1000;
  // Bytes after the archive's end-of-archive marker (limit max-trailing-bytes).
  uint64_t max_trailing_bytes = uint64_t{1} << 20;
};

enum class ArchiveFormat {
  kDockerArchive,  // manifest.json (docker save, classic or 25+, skopeo docker-archive)
  kOciLayout,      // index.json only (oci-archive, OCI layout directory)
};

struct LayerBlob {
  std::string member_path;  // where the bytes were in the archive
  std::string media_type;   // from the manifest, else derived from `compression`
  io::Compression compression = io::Compression::kNone;  // by magic bytes
  std::string diff_id;            // verified against the config's rootfs.diff_ids
  std::string compressed_digest;  // sha256 of the bytes as stored (verified where named)
  uint64_t compressed_size = 0;
  uint64_t handle = 0;
};

struct ImportedImage {
  ArchiveFormat format = ArchiveFormat::kDockerArchive;
  // The name to tag the image with: the --ref match, else the image's only name,
  // else empty. `names` holds every name the archive gives the image.
  std::string name;
  std::vector<std::string> names;
  // The image manifest: the archive's own (OCI layout, or Docker 25+ when its
  // index.json leads to it), else synthesized (manifest_synthesized): a compact
  // OCI manifest with sorted keys over the config and the layer blobs as stored,
  // so importing the same archive twice gives the same digest.
  std::string manifest_digest;
  std::string manifest_media_type;
  std::string manifest_raw;
  bool manifest_synthesized = false;
  std::string config_digest;
  std::string config_raw;
  oci::ImageConfig config;
  std::vector<LayerBlob> layers;  // base first
};

// Streams an archive (tar, optionally gzip- or zstd-compressed as a whole) once,
// never seeking; errors about the archive's content are kTarball.
Result<ImportedImage> import_archive(io::Reader& archive, BlobHandler& handler,
                                     const ImportOptions& options);

// The same for a directory: an OCI image layout or an unpacked docker save.
// Only the chosen image's layers reach the handler.
Result<ImportedImage> import_directory(const std::string& dir, BlobHandler& handler,
                                       const ImportOptions& options);

}  // namespace vmimage::archive
