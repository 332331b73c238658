// Helpers for the EROFS on-disk format: crc32c, device numbers, file types, xattr
// name prefixes (fs/erofs/xattr.h prefix indexes).
#include "fs/erofs/format.h"

#include <sys/stat.h>

#include <array>
#include <cstring>

namespace vmimage::erofs {
namespace {

constexpr std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  return table;
}

constexpr std::array<uint32_t, 256> kCrc32cTable = make_crc32c_table();

struct PrefixEntry {
  uint8_t index;
  std::string_view prefix;
  bool whole_name;  // the ACL names are complete: their suffix is empty
};

constexpr PrefixEntry kPrefixes[] = {
    {kXattrUser, "user.", false},
    {kXattrPosixAclAccess, "system.posix_acl_access", true},
    {kXattrPosixAclDefault, "system.posix_acl_default", true},
    {kXattrTrusted, "trusted.", false},
    {kXattrSecurity, "security.", false},
};

}  // namespace

uint32_t crc32c_update(uint32_t crc, std::span<const std::byte> data) {
  for (std::byte b : data) {
    crc = kCrc32cTable[(crc ^ static_cast<uint8_t>(b)) & 0xFF] ^ (crc >> 8);
  }
  return crc;
}

uint32_t superblock_checksum(std::span<const std::byte> region) {
  constexpr size_t kField = offsetof(SuperBlock, checksum);
  const std::byte zero[4] = {};
  uint32_t crc = crc32c_update(0xFFFFFFFFu, region.first(kField));
  crc = crc32c_update(crc, zero);
  return crc32c_update(crc, region.subspan(kField + sizeof zero));
}

std::optional<uint32_t> encode_dev(uint32_t major, uint32_t minor) {
  if (major > 0xFFF || minor > 0xFFFFF) return std::nullopt;
  return (minor & 0xFF) | (major << 8) | ((minor & ~0xFFu) << 12);
}

void decode_dev(uint32_t dev, uint32_t& major, uint32_t& minor) {
  major = (dev & 0xFFF00) >> 8;
  minor = (dev & 0xFF) | ((dev >> 12) & 0xFFF00);
}


uint8_t file_type_code(tree::FileType type) {
  switch (type) {
    case tree::FileType::kRegular:
      return kFtRegular;
    case tree::FileType::kDirectory:
      return kFtDirectory;
    case tree::FileType::kSymlink:
      return kFtSymlink;
    case tree::FileType::kCharDevice:
      return kFtCharDevice;
    case tree::FileType::kBlockDevice:
      return kFtBlockDevice;
    case tree::FileType::kFifo:
      return kFtFifo;
    case tree::FileType::kSocket:
      return kFtSocket;
  }
  return kFtUnknown;
}

std::optional<tree::FileType> file_type_from_mode(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG:
      return tree::FileType::kRegular;
    case S_IFDIR:
      return tree::FileType::kDirectory;
    case S_IFLNK:
      return tree::FileType::kSymlink;
    case S_IFCHR:
      return tree::FileType::kCharDevice;
    case S_IFBLK:
      return tree::FileType::kBlockDevice;
    case S_IFIFO:
      return tree::FileType::kFifo;
    case S_IFSOCK:
      return tree::FileType::kSocket;
    default:
      return std::nullopt;
  }
}

std::optional<XattrName> split_xattr_name(std::string_view name) {
  if (name.size() > kXattrNameMax) return std::nullopt;  // the VFS refuses longer names
  for (const PrefixEntry& p : kPrefixes) {
    if (p.whole_name) {
      if (name == p.prefix) return XattrName{p.index, {}};
      continue;
    }
    if (name.size() > p.prefix.size() && name.substr(0, p.prefix.size()) == p.prefix) {
      return XattrName{p.index, name.substr(p.prefix.size())};
    }
  }
  return std::nullopt;
}

std::string_view xattr_prefix(uint8_t index) {
  for (const PrefixEntry& p : kPrefixes) {
    if (p.index == index) return p.prefix;
  }
  return {};
}

}  // namespace vmimage::erofs
