#include "tree/storable.h"

#include <array>

namespace vmimage::tree {
namespace {

constexpr std::array<std::string_view, 3> kNamespaces = {"user.", "trusted.", "security."};
constexpr std::array<std::string_view, 2> kWholeNames = {"system.posix_acl_access",
                                                         "system.posix_acl_default"};

std::string shown(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, 64)) {
    auto b = static_cast<unsigned char>(c);
    if (b >= 0x20 && b < 0x7f) {
      out += c;
    } else {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
  }
  return name.size() > 64 ? out + "..." : out;
}

}  // namespace

Status check_symlink_target(std::string_view target) {
  if (target.empty()) return Error(ErrorKind::kLayerFs, "symlink with an empty target");
  if (target.size() > kMaxSymlinkTarget) {
    return Error(ErrorKind::kLayerFs, "symlink target of " + std::to_string(target.size()) +
                                          " bytes; Linux reads at most " +
                                          std::to_string(kMaxSymlinkTarget));
  }
  return {};
}

Status check_device(FileType type, uint32_t major, uint32_t minor) {
  if (type != FileType::kCharDevice && type != FileType::kBlockDevice) return {};
  if (major <= kMaxDeviceMajor && minor <= kMaxDeviceMinor) return {};
  return Error(ErrorKind::kLayerFs, "device number " + std::to_string(major) + ":" +
                                        std::to_string(minor) +
                                        " does not fit Linux's on-disk encoding (major at most "
                                        "4095, minor at most 1048575)");
}

Status check_xattr(std::string_view name, std::string_view value) {
  if (name.size() > kMaxXattrName) {
    return Error(ErrorKind::kLayerFs, "xattr name \"" + shown(name) + "\" of " +
                                          std::to_string(name.size()) +
                                          " bytes; Linux allows at most 255");
  }
  bool known = false;
  for (std::string_view ns : kNamespaces) {
    known = known || (name.size() > ns.size() && name.substr(0, ns.size()) == ns);
  }
  for (std::string_view whole : kWholeNames) known = known || name == whole;
  if (!known) {
    return Error(ErrorKind::kLayerFs,
                 "xattr \"" + shown(name) +
                     "\" is in no namespace both EROFS and ext4 keep (user., trusted., security., "
                     "system.posix_acl_access, system.posix_acl_default)");
  }
  if (value.size() > kMaxXattrValue) {
    return Error(ErrorKind::kLayerFs, "xattr \"" + shown(name) + "\" has a value of " +
                                          std::to_string(value.size()) +
                                          " bytes; at most 65535 are kept");
  }
  return {};
}

Status check_storable(const Inode& node) {
  if (node.type == FileType::kSymlink) VMI_CHECK(check_symlink_target(node.symlink_target));
  VMI_CHECK(check_device(node.type, node.rdev_major, node.rdev_minor));
  for (const Xattr& x : node.xattrs) VMI_CHECK(check_xattr(x.name, x.value));
  return {};
}

}  // namespace vmimage::tree
