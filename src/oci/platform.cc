// Platform normalization follows containerd's platforms package conventions,
// except that arm64 keeps its default variant explicitly as "v8".
#include "oci/platform.h"

#include <sys/utsname.h>

#include <algorithm>

namespace vmimage::oci {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool valid_component(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
  });
}

std::string normalize_arm_variant(std::string v, std::string_view fallback) {
  if (v.empty()) return std::string(fallback);
  if (v.size() == 1 && v[0] >= '5' && v[0] <= '9') return "v" + v;
  return v;
}

}  // namespace

std::string Platform::str() const {
  std::string out = os + "/" + architecture;
  if (!variant.empty()) out += "/" + variant;
  return out;
}

Platform normalize_platform(Platform p) {
  p.os = lower(p.os);
  if (p.os == "macos") p.os = "darwin";
  p.architecture = lower(p.architecture);
  p.variant = lower(p.variant);
  const std::string& a = p.architecture;
  if (a == "i386" || a == "i686") {
    p.architecture = "386";
  } else if (a == "x86_64" || a == "x86-64" || a == "amd64") {
    p.architecture = "amd64";
    if (p.variant == "v1") p.variant.clear();
  } else if (a == "aarch64" || a == "arm64") {
    p.architecture = "arm64";
    p.variant = normalize_arm_variant(p.variant, "v8");
  } else if (a == "armhf") {
    p.architecture = "arm";
    p.variant = "v7";
  } else if (a == "armel") {
    p.architecture = "arm";
    p.variant = "v6";
  } else if (a == "arm") {
    p.variant = normalize_arm_variant(p.variant, "v7");
  }
  return p;
}

Result<Platform> parse_platform(std::string_view text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t slash = text.find('/', start);
    parts.push_back(lower(text.substr(start, slash - start)));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  bool ok = parts.size() == 2 || parts.size() == 3;
  for (const std::string& part : parts) ok = ok && valid_component(part);
  if (!ok) {
    return Error(ErrorKind::kUsage,
                 "invalid platform \"" + std::string(text) + "\": expected os/arch[/variant]");
  }
  Platform p;
  p.os = parts[0];
  p.architecture = parts[1];
  if (parts.size() == 3) p.variant = parts[2];
  return normalize_platform(std::move(p));
}

Platform host_platform() {
  Platform p;
  p.os = "linux";
  struct utsname u {};
  std::string machine = ::uname(&u) == 0 ? u.machine : "x86_64";
  if (machine.rfind("armv", 0) == 0 && machine.size() >= 5) {
    p.architecture = "arm";
    p.variant = "v" + std::string(1, machine[4]);
  } else {
    p.architecture = machine;  // x86_64, aarch64, i686 are normalized below
  }
  return normalize_platform(std::move(p));
}

bool platform_matches(const Platform& want, const Platform& have) {
  Platform w = normalize_platform(want);
  Platform h = normalize_platform(have);
  if (w.os != h.os || w.architecture != h.architecture) return false;
  return w.variant.empty() || w.variant == h.variant;
}

}  // namespace vmimage::oci
