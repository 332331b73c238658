// Deciding, from an archive's documents, which image it holds: manifest.json
// (docker save, classic and 25+) or index.json (OCI image layout, image-layout.md),
// the image selection, and the config and layers to read, with the digests the
// format promises for them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "oci/digest.h"
#include "source/archive/archive.h"
#include "source/archive/contents.h"

namespace vmimage::archive {

struct LayerRef {
  std::string path;                   // normalized archive path
  std::string where;                  // "manifest.json[0].Layers[2]", for messages
  std::optional<oci::Digest> digest;  // what the stored bytes must hash to, if known
  std::optional<int64_t> size;
  std::string media_type;  // empty when the format has none
};

struct ManifestDoc {
  std::string digest;
  std::string media_type;
  std::string raw;
};

struct Plan {
  ArchiveFormat format = ArchiveFormat::kDockerArchive;
  std::vector<std::string> names;
  std::string name;
  std::string config_path;
  std::string config_where;
  std::optional<oci::Digest> config_digest;
  std::optional<int64_t> config_size;
  std::vector<LayerRef> layers;
  std::optional<ManifestDoc> manifest;  // the archive's own manifest, when there is one
};

Result<Plan> resolve_plan(Contents& contents, const ImportOptions& options);

// "blobs/sha256/<hex>" (image-layout.md "Blobs").
std::string blob_path(const oci::Digest& digest);

// The digest a path names by content ("blobs/sha256/<hex>"), if it does.
std::optional<oci::Digest> digest_from_blob_path(const std::string& path);

}  // namespace vmimage::archive
