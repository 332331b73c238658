// Platforms of the OCI image index (image-index.md "platform"): parsing of
// "os/arch[/variant]", normalization of architecture aliases and ARM variants
// (arm64 means arm64/v8, arm means arm/v7), matching, and the host's platform.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "vmimage/result.h"

namespace vmimage::oci {

struct Platform {
  std::string os;            // "linux"
  std::string architecture;  // GOARCH names: "amd64", "arm64", "arm", "386", ...
  std::string variant;       // "v8", "v7", ... (normalized)
  std::string os_version;
  std::vector<std::string> os_features;

  // "linux/arm64/v8"; the variant only when set.
  std::string str() const;
  friend bool operator==(const Platform&, const Platform&) = default;
};

// "os/arch[/variant]", normalized. Errors are kUsage.
Result<Platform> parse_platform(std::string_view text);

// Lower-cases and maps aliases: x86_64 -> amd64, aarch64 -> arm64 (variant v8),
// armhf -> arm/v7, armel -> arm/v6, i386 -> 386, "8" -> "v8".
Platform normalize_platform(Platform p);

// linux + the host's architecture (uname), normalized.
Platform host_platform();

// Whether an image for `have` runs as `want`: same os, architecture and (after
// normalization) variant; an empty wanted variant accepts any.
bool platform_matches(const Platform& want, const Platform& have);

}  // namespace vmimage::oci
