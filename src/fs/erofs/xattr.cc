// Inline xattr encoding and decoding (entry layout from fs/erofs/erofs_fs.h).
#include "fs/erofs/xattr.h"

#include <algorithm>
#include <cstring>

#include "fs/erofs/format.h"

namespace vmimage::erofs {
namespace {

uint32_t entry_size(size_t suffix, size_t value) {
  return static_cast<uint32_t>(round_up(sizeof(XattrEntry) + suffix + value, 4));
}

}  // namespace

Result<uint32_t> xattr_ibody_size(const std::vector<tree::Xattr>& xattrs) {
  if (xattrs.empty()) return 0u;
  uint64_t size = sizeof(XattrIbodyHeader);
  for (const tree::Xattr& x : xattrs) {
    std::optional<XattrName> name = split_xattr_name(x.name);
    if (!name) {
      return Error(ErrorKind::kLayerFs,
                   "xattr \"" + x.name +
                       "\" cannot be stored in EROFS (needs a user., trusted., security. or "
                       "system.posix_acl_* name of at most 255 bytes)");
    }
    if (x.value.size() > kMaxXattrValue) {
      return Error(ErrorKind::kLayerFs, "xattr \"" + x.name + "\" has a " +
                                            std::to_string(x.value.size()) +
                                            "-byte value; EROFS stores at most 65535 bytes");
    }
    size += entry_size(name->suffix.size(), x.value.size());
  }
  if (size > kMaxIbodySize) {
    return Error(ErrorKind::kLayerFs, "xattrs take " + std::to_string(size) +
                                          " bytes; EROFS stores at most " +
                                          std::to_string(kMaxIbodySize) + " per inode");
  }
  return static_cast<uint32_t>(size);
}

void encode_xattrs(const std::vector<tree::Xattr>& xattrs, std::span<std::byte> out) {
  // The header stays zero: no shared xattrs, no name filter.
  size_t pos = sizeof(XattrIbodyHeader);
  for (const tree::Xattr& x : xattrs) {
    XattrName name = *split_xattr_name(x.name);
    XattrEntry e{static_cast<uint8_t>(name.suffix.size()), name.index,
                 static_cast<uint16_t>(x.value.size())};
    std::byte* at = out.data() + pos;
    std::memcpy(at, &e, sizeof e);
    // std::copy: the ACL names have an empty (possibly null) suffix.
    std::copy(name.suffix.begin(), name.suffix.end(), reinterpret_cast<char*>(at + sizeof e));
    std::copy(x.value.begin(), x.value.end(),
              reinterpret_cast<char*>(at + sizeof e + name.suffix.size()));
    pos += entry_size(name.suffix.size(), x.value.size());
  }
}

Result<std::pair<tree::Xattr, uint32_t>> decode_xattr_entry(std::span<const std::byte> data) {
  if (data.size() < sizeof(XattrEntry)) {
    return Error(ErrorKind::kLayerFs, "xattr entry runs past the xattr region");
  }
  XattrEntry e;
  std::memcpy(&e, data.data(), sizeof e);
  uint32_t size = entry_size(e.name_len, e.value_size);
  if (sizeof e + e.name_len + e.value_size > data.size()) {
    return Error(ErrorKind::kLayerFs,
                 "xattr entry of " + std::to_string(size) + " bytes runs past the xattr region");
  }
  std::string_view prefix = xattr_prefix(e.name_index);
  if (prefix.empty()) {
    return Error(ErrorKind::kLayerFs,
                 "unsupported xattr name index " + std::to_string(e.name_index));
  }
  const char* p = reinterpret_cast<const char*>(data.data()) + sizeof e;
  tree::Xattr x;
  x.name = std::string(prefix) + std::string(p, e.name_len);
  x.value.assign(p + e.name_len, e.value_size);
  if (!split_xattr_name(x.name)) {
    return Error(ErrorKind::kLayerFs, "malformed xattr name \"" + x.name + "\"");
  }
  return std::make_pair(std::move(x), std::min<uint32_t>(size, static_cast<uint32_t>(data.size())));
}

}  // namespace vmimage::erofs
