// Superblock write times (see write_time.h).
#include "fs/ext4/write_time.h"

#include <ext2fs/ext2fs.h>

#include <algorithm>
#include <cstddef>
#include <span>

#include "util/file.h"

namespace vmimage::ext4 {
namespace {

static_assert(sizeof(ext2_super_block) == 1024);

void store_le32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}

}  // namespace

Status set_superblock_write_time(int fd, const std::vector<uint64_t>& offsets, int64_t timestamp,
                                 const std::string& what) {
  uint64_t t = static_cast<uint64_t>(std::max<int64_t>(timestamp, 0));
  for (uint64_t offset : offsets) {
    ext2_super_block sb;
    auto bytes = std::as_writable_bytes(std::span(&sb, 1));
    VMI_CHECK(pread_exact(fd, bytes, offset, what));
    if (sb.s_magic != EXT2_SUPER_MAGIC) {
      return Error(ErrorKind::kCreateExt4,
                   what + ": no superblock at offset " + std::to_string(offset));
    }
    sb.s_wtime = static_cast<uint32_t>(t);
    sb.s_wtime_hi = static_cast<uint8_t>(t >> 32);
    // The superblock checksum is crc32c(~0, bytes before s_checksum).
    constexpr size_t kCsumOffset = offsetof(ext2_super_block, s_checksum);
    uint32_t crc = ext2fs_crc32c_le(~0U, reinterpret_cast<unsigned char*>(&sb), kCsumOffset);
    store_le32(reinterpret_cast<unsigned char*>(&sb) + kCsumOffset, crc);
    VMI_CHECK(pwrite_all(fd, bytes, offset, what));
  }
  return {};
}

}  // namespace vmimage::ext4
