// OCI image manifests, indexes and descriptors (image-manifest.md,
// image-index.md, descriptor.md) and their Docker schema 2 equivalents, parsed
// strictly: a malformed document is an error naming the field, never a guess.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oci/digest.h"
#include "oci/platform.h"
#include "vmimage/result.h"

namespace vmimage::oci {

struct Descriptor {
  std::string media_type;
  Digest digest;
  int64_t size = 0;
  std::vector<std::string> urls;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;  // index entries only
  std::string artifact_type;
};

struct Manifest {
  std::string media_type;  // from the document, else the transport's content type
  Descriptor config;
  std::vector<Descriptor> layers;
  std::map<std::string, std::string> annotations;
};

struct Index {
  std::string media_type;
  std::vector<Descriptor> manifests;
  std::map<std::string, std::string> annotations;
};

enum class DocumentKind { kManifest, kIndex };

// Decides what a manifest response holds from the document's own mediaType (or,
// failing that, the Content-Type and its shape). Schema 1 and unknown types are
// errors (kPullImage) that say so.
Result<DocumentKind> classify_manifest(std::string_view content_type, std::string_view body);

Result<Manifest> parse_manifest(std::string_view body, std::string_view content_type = {});
Result<Index> parse_index(std::string_view body, std::string_view content_type = {});

// The platforms of an index's entries ("linux/amd64, linux/arm64/v8"), skipping
// attestations and other entries without a real platform.
std::string describe_platforms(const Index& index);

// Picks the entry for `want`, in document order; an error lists what the index has.
Result<Descriptor> select_platform(const Index& index, const Platform& want);

}  // namespace vmimage::oci
