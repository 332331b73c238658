// EROFS on-disk format: the subset vmimage writes and reads (Linux fs/erofs/erofs_fs.h,
// Documentation/filesystems/erofs.rst): uncompressed FLAT_PLAIN/FLAT_INLINE inodes,
// 32/64-byte inodes, inline xattrs, superblock crc32c. All fields are little-endian.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tree/tree.h"

namespace vmimage::erofs {

static_assert(std::endian::native == std::endian::little,
              "the on-disk structs are copied as-is and assume a little-endian host");

constexpr uint32_t kSuperMagic = 0xE0F5E1E2;
constexpr uint64_t kSuperOffset = 1024;  // bytes before it are left for boot sectors
constexpr uint32_t kFeatureCompatSbChksum = 0x1;
constexpr uint32_t kFeatureCompatMtime = 0x2;          // inode timestamps are mtimes
constexpr uint32_t kFeatureIncompatZeroPadding = 0x1;  // only matters for compressed data

constexpr uint32_t kInodeSlotSize = 32;  // nid = (offset from meta_blkaddr) / 32
constexpr uint32_t kNameMax = 255;
constexpr uint32_t kXattrNameMax = 255;     // whole name, prefix included (XATTR_NAME_MAX)
constexpr uint32_t kNullAddr = 0xFFFFFFFF;  // newer kernels read a FLAT_PLAIN inode here as a hole
constexpr uint32_t kMinBlockSize = 512;
constexpr uint32_t kMaxBlockSize = 65536;

// i_format: bit 0 = extended inode, bits 1-3 = data layout.
constexpr uint16_t kInodeVersionExtended = 1;
constexpr uint8_t kLayoutFlatPlain = 0;
constexpr uint8_t kLayoutCompressedFull = 1;
constexpr uint8_t kLayoutFlatInline = 2;
constexpr uint8_t kLayoutCompressedCompact = 3;
constexpr uint8_t kLayoutChunkBased = 4;
constexpr uint16_t kInodeFormatAllBits = 0x0F;  // what a 5.10 kernel accepts in i_format

inline uint16_t inode_format(bool extended, uint8_t layout) {
  return static_cast<uint16_t>((extended ? kInodeVersionExtended : 0) | (layout << 1));
}

// Directory entry file types (the kernel's FT_* values).
enum FileTypeCode : uint8_t {
  kFtUnknown = 0,
  kFtRegular = 1,
  kFtDirectory = 2,
  kFtCharDevice = 3,
  kFtBlockDevice = 4,
  kFtFifo = 5,
  kFtSocket = 6,
  kFtSymlink = 7,
};

// Xattr name prefix indexes (e_name_index).
enum XattrIndex : uint8_t {
  kXattrUser = 1,
  kXattrPosixAclAccess = 2,
  kXattrPosixAclDefault = 3,
  kXattrTrusted = 4,
  kXattrSecurity = 6,
};

struct SuperBlock {
  uint32_t magic;
  uint32_t checksum;  // crc32c of the superblock's block from offset 1024, this field zeroed
  uint32_t feature_compat;
  uint8_t blkszbits;
  uint8_t sb_extslots;
  uint16_t root_nid;
  uint64_t inos;
  uint64_t build_time;  // timestamp of every compact inode
  uint32_t build_time_nsec;
  uint32_t blocks;
  uint32_t meta_blkaddr;
  uint32_t xattr_blkaddr;
  uint8_t uuid[16];
  uint8_t volume_name[16];  // NUL-terminated within 16 bytes
  uint32_t feature_incompat;
  uint16_t available_compr_algs;
  uint16_t extra_devices;
  uint16_t devt_slotoff;
  uint8_t dirblkbits;
  uint8_t xattr_prefix_count;
  uint32_t xattr_prefix_start;
  uint64_t packed_nid;
  uint8_t xattr_filter_reserved;
  uint8_t reserved2[23];
};

struct InodeCompact {
  uint16_t format;
  uint16_t xattr_icount;
  uint16_t mode;
  uint16_t nlink;
  uint32_t size;
  uint32_t reserved;  // must stay 0: newer kernels add it to build_time as an mtime offset
  uint32_t u;         // raw_blkaddr, or rdev for device nodes
  uint32_t ino;
  uint16_t uid;
  uint16_t gid;
  uint32_t reserved2;
};

struct InodeExtended {
  uint16_t format;
  uint16_t xattr_icount;
  uint16_t mode;
  uint16_t reserved;
  uint64_t size;
  uint32_t u;
  uint32_t ino;
  uint32_t uid;
  uint32_t gid;
  uint64_t mtime;
  uint32_t mtime_nsec;
  uint32_t nlink;
  uint8_t reserved2[16];
};

struct XattrIbodyHeader {
  uint32_t name_filter;  // only meaningful with the XATTR_FILTER feature; 0 here
  uint8_t shared_count;
  uint8_t reserved[7];
};

struct XattrEntry {
  uint8_t name_len;  // suffix length, after the prefix named by name_index
  uint8_t name_index;
  uint16_t value_size;
};

struct [[gnu::packed]] Dirent {
  uint64_t nid;
  uint16_t nameoff;  // offset of the name in this directory block; dirent 0's is 12 * count
  uint8_t file_type;
  uint8_t reserved;
};

static_assert(sizeof(SuperBlock) == 128);
static_assert(offsetof(SuperBlock, build_time) == 0x18);
static_assert(offsetof(SuperBlock, uuid) == 0x30);
static_assert(offsetof(SuperBlock, feature_incompat) == 0x50);
static_assert(offsetof(SuperBlock, packed_nid) == 0x60);
static_assert(sizeof(InodeCompact) == 32);
static_assert(offsetof(InodeCompact, u) == 0x10);
static_assert(offsetof(InodeCompact, uid) == 0x18);
static_assert(sizeof(InodeExtended) == 64);
static_assert(offsetof(InodeExtended, size) == 0x08);
static_assert(offsetof(InodeExtended, mtime) == 0x20);
static_assert(offsetof(InodeExtended, nlink) == 0x2C);
static_assert(sizeof(XattrIbodyHeader) == 12);
static_assert(sizeof(XattrEntry) == 4);
static_assert(sizeof(Dirent) == 12);

// crc32c (Castagnoli) register update, without the customary pre/post inversion:
// the superblock checksum is crc32c_update(0xFFFFFFFF, bytes), stored as is.
uint32_t crc32c_update(uint32_t crc, std::span<const std::byte> data);

// Bytes the superblock checksum covers, starting at kSuperOffset.
inline uint32_t checksum_length(uint32_t block_size) {
  return block_size > kSuperOffset ? block_size - static_cast<uint32_t>(kSuperOffset) : block_size;
}
// `region` starts at kSuperOffset and holds checksum_length() bytes; the checksum
// field inside it is treated as zero.
uint32_t superblock_checksum(std::span<const std::byte> region);

// Device numbers as the kernel's new_encode_dev/new_decode_dev (12-bit major,
// 20-bit minor); nullopt when they do not fit.
std::optional<uint32_t> encode_dev(uint32_t major, uint32_t minor);
void decode_dev(uint32_t dev, uint32_t& major, uint32_t& minor);

uint8_t file_type_code(tree::FileType type);
std::optional<tree::FileType> file_type_from_mode(uint32_t mode);

// An xattr name split into a prefix index and the stored suffix.
struct XattrName {
  uint8_t index;
  std::string_view suffix;
};
// nullopt for names EROFS cannot store or Linux cannot read: no prefix index, an
// empty suffix, or more than 255 bytes in all.
std::optional<XattrName> split_xattr_name(std::string_view name);
// The prefix for an index ("user.", ...); empty for unknown indexes.
std::string_view xattr_prefix(uint8_t index);

inline uint64_t round_up(uint64_t v, uint64_t align) {
  return (v + align - 1) / align * align;
}
inline uint64_t div_round_up(uint64_t v, uint64_t d) {
  return (v + d - 1) / d;
}

}  // namespace vmimage::erofs
