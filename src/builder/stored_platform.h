// The platform of a stored image, read from the image config it was stored
// with, and whether it serves a pull for a given platform (the rules of an
// index's platform selection: oci::platform_matches).
#pragma once

#include <optional>

#include "oci/platform.h"
#include "vmimage/result.h"
#include "vmimage/types.h"

namespace vmimage::builder {

// The platform of the index entry it was chosen by (ImageMeta::platform), else
// its config's; nullopt when neither says: stored without its config (store
// schema 4), or a config without os and architecture.
Result<std::optional<oci::Platform>> stored_platform(const ImageMeta& meta);

// Whether the image runs as `want`; an image that does not say its platform
// is taken as asked, as a registry pull takes such a manifest.
Result<bool> stored_platform_matches(const ImageMeta& meta, const oci::Platform& want);

}  // namespace vmimage::builder
