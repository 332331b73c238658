// Media types of the OCI image spec (media-types.md) and their Docker image
// manifest v2 schema 2 counterparts, with helpers to classify them.
#pragma once

#include <string_view>

#include "io/decompress.h"
#include "vmimage/result.h"

namespace vmimage::oci {

inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayerTar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
// An EROFS image as a layer: containerd's names (its EROFS snapshotter, `ctr
// image convert --erofs`; what push writes), raw or zstd-wrapped for the wire,
// and the draft EROFS image spec's.
inline constexpr std::string_view kErofsLayer = "application/vnd.erofs.layer.v1";
inline constexpr std::string_view kErofsLayerZstd = "application/vnd.erofs.layer.v1+zstd";
inline constexpr std::string_view kErofsImage = "application/vnd.erofs";
inline constexpr std::string_view kErofsImageZstd = "application/vnd.erofs+zstd";
inline constexpr std::string_view kOciForeignLayerTar =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
inline constexpr std::string_view kOciForeignLayerGzip =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
inline constexpr std::string_view kOciForeignLayerZstd =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestSchema1 =
    "application/vnd.docker.distribution.manifest.v1+json";
inline constexpr std::string_view kDockerManifestSchema1Signed =
    "application/vnd.docker.distribution.manifest.v1+prettyjws";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kDockerLayerTar = "application/vnd.docker.image.rootfs.diff.tar";
inline constexpr std::string_view kDockerForeignLayerGzip =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

// The Accept header value for manifest requests: indexes and manifests, OCI and Docker.
inline constexpr std::string_view kManifestAccept =
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

bool is_index_media_type(std::string_view media_type);
bool is_manifest_media_type(std::string_view media_type);
bool is_schema1_media_type(std::string_view media_type);
bool is_config_media_type(std::string_view media_type);

// The compression a tar layer media type declares; an error (kPullImage) for
// media types that are not tar layers (EROFS layers, artifacts, Helm charts).
Result<io::Compression> layer_compression(std::string_view media_type);

// What a layer blob holds: a tar change set, or a filesystem image ready to
// mount (an EROFS layer).
enum class LayerFormat { kTar, kErofs };
struct LayerType {
  LayerFormat format = LayerFormat::kTar;
  io::Compression compression = io::Compression::kNone;  // as the media type declares
};
// Tar or EROFS layers; an error (kPullImage) for anything else.
Result<LayerType> layer_type(std::string_view media_type);

}  // namespace vmimage::oci
