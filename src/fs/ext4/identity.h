// Reproducible identity for ext4 images: the volume UUID, the directory hash
// seed and the checksum seed are all derived from what goes into the image
// (SHA-256), never from the clock or a random source.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/sha256.h"
#include "tree/tree.h"
#include "util/result.h"

namespace vmimage::ext4 {

using Uuid = std::array<uint8_t, 16>;

// SHA-256 over every reachable inode's metadata in `order` (type, mode,
// owner, times, device, symlink target, xattrs, size, directory entries),
// returned as 32 raw bytes. File contents are not read.
std::string tree_metadata_digest(const tree::Tree& tree, const std::vector<tree::InodeId>& order);

// The first 16 bytes of SHA-256(purpose NUL parts...).
std::array<uint8_t, 16> derive16(std::string_view purpose, const std::vector<std::string>& parts);

// Marks 16 hash bytes as an RFC 9562 UUID (version 8: custom, variant 10).
Uuid as_uuid(std::array<uint8_t, 16> bytes);
std::string format_uuid(const Uuid& uuid);
// Accepts the canonical 8-4-4-4-12 hex form.
Result<Uuid> parse_uuid(std::string_view text);

// Raw digest bytes of a hasher (it is reset afterwards).
std::string finish_raw(io::Sha256& hash);

// libext2fs stamps its own clock into s_wtime when it writes the superblocks;
// this rewrites s_wtime (and its checksum) in each copy at `offsets` of the
// closed image open as `fd`, so the image carries `timestamp` only.
Status set_superblock_write_time(int fd, const std::vector<uint64_t>& offsets, int64_t timestamp,
                                 const std::string& what);

}  // namespace vmimage::ext4
