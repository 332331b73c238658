// Index pushes (see push_index.h): the image index is an OCI image-index
// (image-spec image-index.md) whose entries carry the platform each converted
// manifest's config names, and the annotations of the manifests that concern
// them all (source index, format, layout, compression).
#include "builder/push_index.h"

#include <algorithm>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "builder/stored_platform.h"
#include "io/sha256.h"
#include "oci/media_types.h"

namespace vmimage::builder {
namespace {

// Stored images of either scope chosen from the index `index_digest`, most
// recent first.
Result<std::vector<ImageInfo>> images_of_index(Store& store, const std::string& index_digest) {
  std::vector<ImageInfo> out;
  for (Scope scope : {Scope::kLocal, Scope::kRegistry}) {
    VMI_TRY(std::vector<ImageInfo> listed, store.list(scope));
    for (ImageInfo& info : listed) {
      if (info.meta.index_digest == index_digest) out.push_back(std::move(info));
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const ImageInfo& a, const ImageInfo& b) {
    return a.meta.created_at > b.meta.created_at;
  });
  return out;
}

// `events` with every event marked as being about `platform`'s image.
PushEvents events_for(const PushEvents& events, const std::string& platform) {
  if (!events) return {};
  return [events, platform](const PushEvent& e) {
    PushEvent marked = e;
    marked.platform = platform;
    events(marked);
  };
}

PushedPlatform pushed_platform(const PlatformImage& image, PushResult pushed) {
  return {.platform = image.platform.str(),
          .image = image.tag,
          .reference = std::move(pushed.reference),
          .digest = pushed.digest,
          .size = pushed.size,
          .layers = std::move(pushed.layers),
          .config = pushed.config};
}

nlohmann::ordered_json platform_json(const oci::Platform& platform) {
  nlohmann::ordered_json out = {{"architecture", platform.architecture}, {"os", platform.os}};
  if (!platform.variant.empty()) out["variant"] = platform.variant;
  return out;
}

std::string index_document(const std::vector<PlatformImage>& images,
                           const std::vector<PushedPlatform>& pushed, const PushOptions& options) {
  nlohmann::ordered_json manifests = nlohmann::ordered_json::array();
  for (size_t i = 0; i < images.size(); ++i) {
    manifests.push_back({{"mediaType", oci::kOciManifest},
                         {"digest", pushed[i].digest},
                         {"size", pushed[i].size},
                         {"platform", platform_json(images[i].platform)}});
  }
  nlohmann::ordered_json annotations = {
      {kSourceIndexAnnotation, images.front().image.meta.index_digest},
      {kFormatAnnotation, kFormatVersion},
      {kLayoutAnnotation, push_layout_name(options.layout)},
      {kCompressionAnnotation, push_compression_name(options.compression)},
  };
  nlohmann::ordered_json index = {{"schemaVersion", 2},
                                  {"mediaType", oci::kOciIndex},
                                  {"manifests", manifests},
                                  {"annotations", annotations}};
  return index.dump();
}

}  // namespace

Result<std::vector<PlatformImage>> index_platforms(Store& store, const FoundImage& src,
                                                   PushLayout layout, const PushEvents& events) {
  const ImageMeta& meta = src.image.meta;
  if (meta.index_digest.empty()) return std::vector<PlatformImage>();
  VMI_TRY(std::optional<oci::Platform> own, stored_platform(meta));
  if (!own) return std::vector<PlatformImage>();
  std::vector<PlatformImage> chosen{{*own, src.tag, src.image, true}};
  std::set<std::string> taken{own->str()};
  VMI_TRY(std::vector<ImageInfo> candidates, images_of_index(store, meta.index_digest));
  std::map<std::string, std::string> unpushable;  // platform: why, while none is found
  for (const ImageInfo& info : candidates) {
    VMI_TRY(std::optional<oci::Platform> platform, stored_platform(info.meta));
    if (!platform || taken.count(platform->str()) != 0) continue;
    Result<StoredImage> image = store.find(info.scope, info.tag);
    if (!image) {
      // Removed since it was listed: as if it never was.
      if (image.error().kind() == ErrorKind::kImageNotFound) continue;
      return std::move(image).error();
    }
    // An older image of the platform may serve where the newest cannot.
    Status pushable = check_pushable(*image, info.tag, layout);
    if (!pushable) {
      unpushable.emplace(platform->str(), pushable.error().message());
      continue;
    }
    unpushable.erase(platform->str());
    taken.insert(platform->str());
    chosen.push_back({*platform, info.tag, std::move(*image), false});
  }
  for (const auto& [platform, why] : unpushable) {
    if (!events) continue;
    PushEvent skipped{PushEvent::Kind::kSkipped, -1, "", 0, 0};
    skipped.platform = platform;
    skipped.message = why;
    events(skipped);
  }
  std::sort(chosen.begin(), chosen.end(), [](const PlatformImage& a, const PlatformImage& b) {
    return a.platform.str() < b.platform.str();
  });
  return chosen;
}

Result<PushResult> push_index(Store& store, const std::vector<PlatformImage>& platforms,
                              registry::Client& client, const oci::Reference& dest,
                              const PushOptions& options, io::CancelFlag cancel) {
  for (const PlatformImage& p : platforms) {
    auto pushable = check_pushable(p.image, p.tag, options.layout);
    if (!pushable) {
      return std::move(pushable).error().context(
          "cannot push the " + std::to_string(platforms.size()) +
          " platforms the store holds of the source index together: " + p.platform.str());
    }
  }
  PushResult result;
  PushedIndex index;
  index.reference = dest.str();
  PushOptions by_digest = options;
  by_digest.by_digest = true;
  for (const PlatformImage& p : platforms) {
    by_digest.events = events_for(options.events, p.platform.str());
    Result<PushResult> pushed = push_image(store, p.image, p.tag, client, dest, by_digest, cancel);
    if (!pushed) return std::move(pushed).error().context("pushing " + p.platform.str());
    if (p.source) result = *pushed;
    index.platforms.push_back(pushed_platform(p, std::move(*pushed)));
  }
  std::string bytes = index_document(platforms, index.platforms, options);
  index.digest = io::sha256_digest(bytes);
  index.size = bytes.size();
  VMI_CHECK(client.put_manifest(dest, std::string(oci::kOciIndex), bytes, cancel));
  if (options.events) options.events(PushEvent{PushEvent::Kind::kIndex, -1, index.digest, 0, 0});
  result.index = std::move(index);
  return result;
}

}  // namespace vmimage::builder
