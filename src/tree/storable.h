// What every filesystem vmimage writes stores exactly, as Linux reads it back:
// EROFS and ext4 alike. A tar entry is checked as it enters a tree, and each
// writer checks again (a tree can also come from an EROFS blob), so both
// refuse the same things with the same words, and neither truncates silently.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tree/tree.h"
#include "vmimage/result.h"

namespace vmimage::tree {

// The kernel reads a symlink target into a PATH_MAX buffer with its NUL.
constexpr size_t kMaxSymlinkTarget = 4095;
// Device numbers both on-disk encodings (new_encode_dev) hold: 12-bit major, 20-bit minor.
constexpr uint32_t kMaxDeviceMajor = 0xFFF;
constexpr uint32_t kMaxDeviceMinor = 0xFFFFF;
// The VFS's XATTR_NAME_MAX (whole name), and the largest value both keep.
constexpr size_t kMaxXattrName = 255;
constexpr size_t kMaxXattrValue = 65535;  // EROFS stores the size in 16 bits

// Errors are kLayerFs and say what cannot be stored; callers add the path.
Status check_symlink_target(std::string_view target);
Status check_device(FileType type, uint32_t major, uint32_t minor);
// Names in the namespaces both filesystems keep: user., trusted., security.,
// system.posix_acl_access and system.posix_acl_default.
Status check_xattr(std::string_view name, std::string_view value);
Status check_storable(const Inode& node);

}  // namespace vmimage::tree
