// Classification of OCI and Docker media types.
#include "oci/media_types.h"

#include <string>

namespace vmimage::oci {

bool is_index_media_type(std::string_view m) {
  return m == kOciIndex || m == kDockerManifestList;
}
bool is_manifest_media_type(std::string_view m) {
  return m == kOciManifest || m == kDockerManifest;
}
bool is_schema1_media_type(std::string_view m) {
  return m == kDockerManifestSchema1 || m == kDockerManifestSchema1Signed;
}
bool is_config_media_type(std::string_view m) {
  return m == kOciConfig || m == kDockerConfig;
}

Result<io::Compression> layer_compression(std::string_view m) {
  if (m == kOciLayerGzip || m == kOciForeignLayerGzip || m == kDockerLayerGzip ||
      m == kDockerForeignLayerGzip) {
    return io::Compression::kGzip;
  }
  if (m == kOciLayerZstd || m == kOciForeignLayerZstd) return io::Compression::kZstd;
  if (m == kOciLayerTar || m == kOciForeignLayerTar || m == kDockerLayerTar) {
    return io::Compression::kNone;
  }
  return Error(ErrorKind::kPullImage,
               "unsupported layer media type \"" + std::string(m) + "\" (not an image layer)");
}

Result<LayerType> layer_type(std::string_view m) {
  if (m == kErofsLayer || m == kErofsImage) return LayerType{LayerFormat::kErofs};
  if (m == kErofsLayerZstd || m == kErofsImageZstd) {
    return LayerType{LayerFormat::kErofs, io::Compression::kZstd};
  }
  VMI_TRY(io::Compression c, layer_compression(m));
  return LayerType{LayerFormat::kTar, c};
}

}  // namespace vmimage::oci
