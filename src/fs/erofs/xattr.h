// EROFS inline xattrs (fs/erofs/xattr.c): after the inode core, a 12-byte ibody
// header, then entries {name_len, name_index, value_size, suffix, value} each padded
// to 4 bytes. i_xattr_icount = (ibody size - 12) / 4 + 1, or 0 when there are none.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tree/tree.h"
#include "vmimage/result.h"

namespace vmimage::erofs {

constexpr uint32_t kMaxXattrValue = 65535;
constexpr uint32_t kMaxIbodySize = 12 + 4 * (65535 - 1);

// Bytes of the inline xattr region for these xattrs (0 when empty); an error names
// the first xattr EROFS cannot store.
Result<uint32_t> xattr_ibody_size(const std::vector<tree::Xattr>& xattrs);
inline uint16_t xattr_icount(uint32_t ibody_size) {
  return ibody_size == 0 ? 0 : static_cast<uint16_t>((ibody_size - 12) / 4 + 1);
}
inline uint32_t xattr_ibody_size_from_icount(uint16_t icount) {
  return icount == 0 ? 0 : 12 + 4u * (icount - 1u);
}
// Writes the region; `out` has exactly xattr_ibody_size() bytes, zero-filled.
void encode_xattrs(const std::vector<tree::Xattr>& xattrs, std::span<std::byte> out);

// Parses one entry at the start of `data`: the xattr and the entry's padded size.
Result<std::pair<tree::Xattr, uint32_t>> decode_xattr_entry(std::span<const std::byte> data);

}  // namespace vmimage::erofs
