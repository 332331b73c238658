// Parsing of image manifests and indexes (OCI image-spec v1.1, Docker manifest
// v2 schema 2 and manifest lists).
#include "oci/manifest.h"

#include "oci/json_util.h"
#include "oci/media_types.h"

namespace vmimage::oci {
namespace {

using json::Fields;
using json::Json;

constexpr ErrorKind kKind = ErrorKind::kPullImage;

std::string index_path(std::string_view array, size_t i) {
  return std::string(array) + "[" + std::to_string(i) + "]";
}

Result<Platform> parse_platform_object(const Json& object, const std::string& path) {
  Fields f(object, path, kKind);
  Platform p;
  VMI_TRY(p.architecture, f.string("architecture"));
  VMI_TRY(p.os, f.string("os"));
  VMI_TRY(p.variant, f.optional_string("variant"));
  VMI_TRY(p.os_version, f.optional_string("os.version"));
  VMI_TRY(p.os_features, f.string_list("os.features"));
  return normalize_platform(std::move(p));
}

Result<Descriptor> parse_descriptor(const Json& object, const std::string& path) {
  if (!object.is_object()) return Error(kKind, "field \"" + path + "\": not an object");
  Fields f(object, path, kKind);
  Descriptor d;
  VMI_TRY(d.media_type, f.string("mediaType"));
  if (d.media_type.empty()) return f.error("mediaType", "empty");
  VMI_TRY(std::string digest, f.string("digest"));
  auto parsed = Digest::parse(digest, kKind);
  if (!parsed) return f.error("digest", parsed.error().message());
  d.digest = std::move(parsed).value();
  VMI_TRY(d.size, f.integer("size"));
  if (d.size < 0) return f.error("size", "negative");
  VMI_TRY(d.urls, f.string_list("urls"));
  VMI_TRY(d.annotations, f.string_map("annotations"));
  VMI_TRY(d.artifact_type, f.optional_string("artifactType"));
  VMI_TRY(const Json* platform, f.object("platform", /*optional=*/true));
  if (platform) {
    VMI_TRY(d.platform, parse_platform_object(*platform, f.path_of("platform")));
  }
  return d;
}

Status check_schema_version(const Fields& f, std::string_view media_type) {
  VMI_TRY(int64_t version, f.integer("schemaVersion"));
  if (version == 1) {
    return Error(kKind,
                 "image manifest schema 1 is not supported (deprecated since 2017); "
                 "push the image again with a current Docker, buildah or skopeo");
  }
  if (version != 2) {
    return f.error("schemaVersion",
                   "is " + std::to_string(version) + ", expected 2 for " + std::string(media_type));
  }
  return {};
}

// The document's mediaType wins over the transport's; both may be absent for OCI.
Result<std::string> document_media_type(const Fields& f, std::string_view content_type,
                                        std::string_view fallback) {
  VMI_TRY(std::string media_type, f.optional_string("mediaType"));
  if (media_type.empty()) media_type = std::string(content_type);
  if (media_type.empty() || media_type == "application/json") media_type = std::string(fallback);
  return media_type;
}

std::string strip_parameters(std::string_view content_type) {
  std::string_view v = content_type.substr(0, content_type.find(';'));
  while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
  return std::string(v);
}

}  // namespace

Result<DocumentKind> classify_manifest(std::string_view content_type, std::string_view body) {
  std::string type = strip_parameters(content_type);
  if (is_schema1_media_type(type)) {
    return Error(kKind, "image manifest schema 1 (" + type +
                            ") is not supported; push the "
                            "image again with a current Docker, buildah or skopeo");
  }
  VMI_TRY(Json doc, json::parse_object(body, "manifest", kKind));
  Fields f(doc, "", kKind);
  VMI_TRY(std::string media_type, f.optional_string("mediaType"));
  if (media_type.empty()) media_type = type;
  if (is_index_media_type(media_type)) return DocumentKind::kIndex;
  if (is_manifest_media_type(media_type)) return DocumentKind::kManifest;
  if (is_schema1_media_type(media_type) || (f.has("schemaVersion") && doc["schemaVersion"] == 1)) {
    VMI_CHECK(check_schema_version(f, media_type));
  }
  // OCI documents may omit mediaType and registries may answer application/json.
  if (media_type.empty() || media_type == "application/json") {
    if (f.has("manifests")) return DocumentKind::kIndex;
    if (f.has("config") || f.has("layers")) return DocumentKind::kManifest;
  }
  return Error(kKind, "unsupported manifest media type \"" + media_type + "\"");
}

Result<Manifest> parse_manifest(std::string_view body, std::string_view content_type) {
  VMI_TRY(Json doc, json::parse_object(body, "manifest", kKind));
  Fields f(doc, "", kKind);
  Manifest m;
  VMI_TRY(m.media_type, document_media_type(f, strip_parameters(content_type), kOciManifest));
  if (!is_manifest_media_type(m.media_type)) {
    return Error(kKind, "manifest: media type \"" + m.media_type + "\" is not an image manifest");
  }
  VMI_CHECK(check_schema_version(f, m.media_type));
  VMI_TRY(const Json* config, f.object("config"));
  VMI_TRY(m.config, parse_descriptor(*config, "config"));
  VMI_TRY(const Json* layers, f.array("layers"));
  for (size_t i = 0; i < layers->size(); ++i) {
    VMI_TRY(Descriptor layer, parse_descriptor((*layers)[i], index_path("layers", i)));
    m.layers.push_back(std::move(layer));
  }
  VMI_TRY(m.annotations, f.string_map("annotations"));
  return m;
}

Result<Index> parse_index(std::string_view body, std::string_view content_type) {
  VMI_TRY(Json doc, json::parse_object(body, "index", kKind));
  Fields f(doc, "", kKind);
  Index index;
  VMI_TRY(index.media_type, document_media_type(f, strip_parameters(content_type), kOciIndex));
  if (!is_index_media_type(index.media_type)) {
    return Error(kKind, "index: media type \"" + index.media_type + "\" is not an image index");
  }
  VMI_CHECK(check_schema_version(f, index.media_type));
  VMI_TRY(const Json* manifests, f.array("manifests"));
  for (size_t i = 0; i < manifests->size(); ++i) {
    VMI_TRY(Descriptor d, parse_descriptor((*manifests)[i], index_path("manifests", i)));
    index.manifests.push_back(std::move(d));
  }
  VMI_TRY(index.annotations, f.string_map("annotations"));
  return index;
}

std::string describe_platforms(const Index& index) {
  std::string out;
  for (const Descriptor& d : index.manifests) {
    if (!d.platform || d.platform->os == "unknown" || d.platform->architecture == "unknown") {
      continue;
    }
    if (!out.empty()) out += ", ";
    out += d.platform->str();
  }
  return out.empty() ? "none" : out;
}

Result<Descriptor> select_platform(const Index& index, const Platform& want) {
  for (const Descriptor& d : index.manifests) {
    if (!d.platform) continue;
    if (!is_manifest_media_type(d.media_type) && !is_index_media_type(d.media_type)) continue;
    if (platform_matches(want, *d.platform)) return d;
  }
  return Error(kKind, "no image for platform " + want.str() +
                          " in the index; it has: " + describe_platforms(index));
}

}  // namespace vmimage::oci
