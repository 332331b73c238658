// Stored images' platforms (see stored_platform.h).
#include "builder/stored_platform.h"

#include "oci/image_config.h"

namespace vmimage::builder {

Result<std::optional<oci::Platform>> stored_platform(const ImageMeta& meta) {
  // The index entry it was chosen by says it best.
  if (!meta.platform.empty()) {
    auto chosen = oci::parse_platform(meta.platform);
    if (!chosen) return std::move(chosen).error().context("the stored platform of " + meta.tag);
    return std::optional<oci::Platform>(oci::normalize_platform(*chosen));
  }
  if (meta.config.empty()) return std::optional<oci::Platform>();
  auto config = oci::parse_image_config(meta.config);
  if (!config) return std::move(config).error().context("the stored config of " + meta.tag);
  oci::Platform platform = oci::platform_of(*config);
  if (platform.os.empty() || platform.architecture.empty()) {
    return std::optional<oci::Platform>();
  }
  return std::optional<oci::Platform>(std::move(platform));
}

Result<bool> stored_platform_matches(const ImageMeta& meta, const oci::Platform& want) {
  VMI_TRY(std::optional<oci::Platform> have, stored_platform(meta));
  return !have || oci::platform_matches(want, *have);
}

}  // namespace vmimage::builder
