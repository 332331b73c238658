// Registry and archive documents: a manifest (and its layers' dm-verity
// annotations), an index, an image config, as JSON of any shape, depth or
// encoding. Parsing never crashes or throws, and what it accepts prints as JSON.
#include <cstdint>

#include <nlohmann/json.hpp>

#include "builder/erofs_layers.h"
#include "oci/image_config.h"
#include "oci/manifest.h"
#include "oci/media_types.h"
#include "oci/platform.h"

using namespace vmimage;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  for (std::string_view type : {std::string_view(), oci::kOciManifest, oci::kOciIndex,
                                std::string_view("application/vnd.docker.distribution.manifest.v2+json")}) {
    (void)oci::classify_manifest(type, body);
  }
  if (auto m = oci::parse_manifest(body); m.ok()) {
    for (const oci::Descriptor& d : m->layers) {
      (void)oci::layer_type(d.media_type);
      (void)builder::published_verity(d);  // a converted layer's dm-verity annotations
    }
  }
  if (auto index = oci::parse_index(body); index.ok()) {
    for (const char* want : {"linux/amd64", "linux/arm64/v8", "windows/amd64"}) {
      (void)oci::select_platform(*index, oci::parse_platform(want).value());
    }
  }
  if (auto config = oci::parse_image_config(body); config.ok()) {
    (void)oci::runtime_config_to_json(config->config).dump();  // throws on bad UTF-8: a crash
  }
  return 0;
}
