// Convert once, share everywhere: a converted image (push_image with the
// source's manifest as subject) is found by the source's manifest digest in a
// repository that collects them, so that one host converts and the others
// pull the EROFS layers.
//
// Lookup (distribution spec 1.1, "Listing Referrers"): the referrers API
// (GET /v2/<repo>/referrers/<source digest>) where the registry has it, else
// the referrers tag schema: the index tagged sha256-<hex of the source
// digest>, which the publisher keeps up to date. Either lists descriptors
// with artifactType and the manifest's annotations; a converted image fits
// when its format version is ours and its layout the one asked for.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "builder/push.h"
#include "io/cancel.h"
#include "oci/digest.h"
#include "oci/reference.h"
#include "source/registry/client.h"
#include "vmimage/result.h"

namespace vmimage::builder {

// The tag of the source's referrers index in the tag schema: "sha256-<hex>".
std::string referrers_tag(const oci::Digest& subject);

// The digest of a converted image of `source` in the repository of `repo`
// whose layout is `layout` ("layered" or "squashed") and, when `verity`, whose
// layers carry dm-verity trees; nullopt when there is none.
Result<std::optional<oci::Digest>> find_converted(registry::Client& client,
                                                  const oci::Reference& repo,
                                                  const oci::Digest& source,
                                                  std::string_view layout, bool verity,
                                                  io::CancelFlag cancel = nullptr);

// Makes a pushed converted image (`pushed`, whose subject is `source`)
// findable by find_converted: nothing more where the registry has the
// referrers API, else adds it to the referrers tag index (read, add, write,
// and read back until it holds the entry, so that publishers racing on one
// index do not drop each other's entries).
Status register_converted(registry::Client& client, const oci::Reference& repo,
                          const oci::Digest& source, const PushResult& pushed,
                          io::CancelFlag cancel = nullptr);

}  // namespace vmimage::builder
