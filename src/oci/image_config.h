// The image configuration (OCI image-spec config.md; Docker's container image
// v1 JSON): the layer DiffIDs and the runtime defaults a VM init needs.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "oci/digest.h"
#include "oci/platform.h"
#include "vmimage/result.h"

namespace vmimage::oci {

struct RuntimeConfig {
  std::string user;
  std::string working_dir;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "KEY=value"
  std::map<std::string, std::string> labels;
  std::vector<std::string> exposed_ports;  // "80/tcp"
  std::string stop_signal;
};

struct ImageConfig {
  std::string architecture;
  std::string os;
  std::string variant;
  std::string created;
  std::vector<Digest> diff_ids;  // rootfs.diff_ids: sha256 of each uncompressed layer tar
  RuntimeConfig config;
};

Result<ImageConfig> parse_image_config(std::string_view body);

// The platform the config names (os, architecture, variant), normalized; os
// or architecture empty when the config does not say.
Platform platform_of(const ImageConfig& config);

// {"User": ..., "WorkingDir": ..., "Entrypoint": [...], ...} with the config's
// field names, for printing and for storing beside an image.
nlohmann::ordered_json runtime_config_to_json(const RuntimeConfig& config);

}  // namespace vmimage::oci
