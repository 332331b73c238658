// A push of several platforms: the store holds one platform per pull, so the
// platforms of one source index that were pulled (or imported) into the store
// go up together: each platform's converted manifest by digest (push_image),
// then an OCI image index listing them at the destination's tag.
#pragma once

#include <string>
#include <vector>

#include "builder/push.h"
#include "oci/platform.h"
#include "store/find_image.h"

namespace vmimage::builder {

// A stored image and the platform its config names.
struct PlatformImage {
  oci::Platform platform;
  std::string tag;  // as stored (messages, PushedPlatform::image)
  StoredImage image;
  bool source = false;  // the image the push was asked for
};

// The images to push for `src`, one per platform, sorted by platform: when
// src was chosen from an index and names its platform, src for its own and,
// for each other platform, the most recent stored image (either scope) chosen
// from the same index that `layout` can push; a platform none of whose images
// it can push is left out, with a kSkipped event. Fewer than two: push src
// alone.
Result<std::vector<PlatformImage>> index_platforms(Store& store, const FoundImage& src,
                                                   PushLayout layout,
                                                   const PushEvents& events = {});

// Every image of `platforms` pushed by digest to dest's repository, then the
// index listing them at dest's tag. Nothing is uploaded unless every image can
// be pushed with options.layout (index_platforms chose such images). The result's own fields are the source
// image's manifest.
Result<PushResult> push_index(Store& store, const std::vector<PlatformImage>& platforms,
                              registry::Client& client, const oci::Reference& dest,
                              const PushOptions& options, io::CancelFlag cancel = nullptr);

}  // namespace vmimage::builder
