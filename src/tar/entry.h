// What a tar stream yields: one Entry per archive member (its metadata, with the
// path already normalized) and, for regular files, the data as blocks at offsets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vmimage/result.h"

namespace vmimage::tar {

enum class EntryType : uint8_t {
  kRegular,
  kDirectory,
  kSymlink,
  kHardlink,
  kCharDevice,
  kBlockDevice,
  kFifo,
  kSocket,
};

std::string_view entry_type_name(EntryType type);

struct Xattr {
  std::string name;   // full name, e.g. "security.capability"
  std::string value;  // raw bytes, may hold NULs
  bool operator==(const Xattr&) const = default;
};

struct Entry {
  // Normalized (see normalize_path): relative, no "." / ".." / empty components;
  // "" is the root. Bytes as stored in the archive, not necessarily UTF-8.
  std::string path;
  EntryType type = EntryType::kRegular;
  uint32_t mode = 0;  // permission bits including setuid/setgid/sticky (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime_sec = 0;
  uint32_t mtime_nsec = 0;
  uint32_t rdev_major = 0;
  uint32_t rdev_minor = 0;
  std::string symlink_target;   // kSymlink: raw bytes, never normalized
  std::string hardlink_target;  // kHardlink: normalized like `path`
  uint64_t size = 0;            // kRegular: logical size (a sparse file's full size)
  std::vector<Xattr> xattrs;    // sorted by name, names unique
  uint64_t header_offset = 0;   // byte offset of the entry's first header in the tar stream
};

// A run of file bytes at `offset` within the file; gaps between blocks are holes.
struct DataBlock {
  uint64_t offset = 0;
  std::span<const std::byte> bytes;
};

// The current entry's data, pulled block by block (offsets increase).
class DataReader {
 public:
  virtual ~DataReader() = default;
  // The next block, or nullopt after the last one. The span stays valid until
  // the next call.
  virtual Result<std::optional<DataBlock>> read_block() = 0;
};

// Bounds on a normalized path: bytes, and directory levels (components).
struct PathLimits {
  uint64_t max_bytes = UINT64_MAX;
  uint64_t max_depth = UINT64_MAX;
};

// Tar paths to the canonical relative form: strips leading "/" and "./", collapses
// "//" and "." components and resolves ".." lexically; a ".." that would climb out
// of the root is a kTarball error, and so is a path past `limits` (checked on the
// raw text first, so cost stays linear). A trailing "/" is dropped; "" names the root.
Result<std::string> normalize_path(std::string_view raw, const PathLimits& limits = {});

// The path for messages: printable ASCII kept, other bytes as \xNN, in quotes;
// a path of more than 320 bytes shows only its first 160 and last 80.
std::string quote_path(std::string_view path);

}  // namespace vmimage::tar
