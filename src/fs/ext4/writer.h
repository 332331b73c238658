// The ext4 writer: any tree::Tree (one layer, or a whole squashed image whose
// file data sits in EROFS blobs) becomes an ext4 image, written with libext2fs
// without mounting anything. Output is reproducible: the same tree, data and
// options give the same bytes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "tree/data_sink.h"
#include "tree/tree.h"
#include "vmimage/result.h"

namespace vmimage::ext4 {

struct Ext4Options {
  // Image size in bytes (the whole filesystem); 0 sizes automatically: what
  // the content needs, modest slack (about 1.5% + 1 MiB), and then as much
  // as it takes for extra_free_bytes to be available, as statfs (df) reports
  // it once mounted: after the journal and ext4's delayed-allocation reserve.
  uint64_t size_bytes = 0;
  uint64_t extra_free_bytes = 0;  // with automatic sizing only
  std::string label;              // volume label, at most 16 bytes
  // Volume UUID; by default derived from the tree and its file contents.
  std::optional<std::array<uint8_t, 16>> uuid;
  // Seconds since the epoch for the filesystem's own times (superblock,
  // lost+found, journal); file times come from the tree.
  int64_t timestamp = 0;
  bool journal = false;         // has_journal, for disks mounted read-write
  bool lost_and_found = false;  // a 16 KiB /lost+found, as mke2fs makes
};

struct Ext4Stats {
  uint64_t size_bytes = 0;      // the image file's size
  uint64_t min_size_bytes = 0;  // the smallest size that holds this content
  bool auto_sized = false;
  uint64_t blocks = 0;  // 4 KiB filesystem blocks
  uint64_t free_blocks = 0;
  uint64_t inodes = 0;
  uint64_t inodes_used = 0;
  uint64_t data_blocks = 0;  // file data blocks written (holes and zero blocks skipped)
  uint64_t files = 0;        // inodes by kind (a hardlinked file counts once)
  uint64_t directories = 0;
  uint64_t symlinks = 0;
  uint64_t special = 0;  // devices, FIFOs, sockets
  std::string uuid;
};

// Writes `tree` as an ext4 image at output_path (temporary file, fsync,
// rename: on error nothing is left). With size_bytes too small, fails before
// writing anything, naming the size needed.
Result<Ext4Stats> write_ext4(const tree::Tree& tree, const tree::DataSources& sources,
                             const std::string& output_path, const Ext4Options& options);
// The same into an empty file open as `fd` and named `path` (libext2fs opens
// files by name), which the caller commits or discards.
Result<Ext4Stats> write_ext4_file(const tree::Tree& tree, const tree::DataSources& sources, int fd,
                                  const std::string& path, const Ext4Options& options);

// The smallest image size (bytes) `tree` fits in with these options (the
// size fields are ignored). Reads no file data, only the sources' hole maps.
Result<uint64_t> ext4_size_needed(const tree::Tree& tree, const tree::DataSources& sources,
                                  const Ext4Options& options);

}  // namespace vmimage::ext4
