// The EROFS image writer: serialises a tree::Tree into an uncompressed EROFS image
// that Linux 5.10+ mounts (4 KiB blocks by default, FLAT_PLAIN/FLAT_INLINE inodes,
// compact/extended inodes, inline xattrs, superblock crc32c). Format: fs/erofs/erofs_fs.h.
//
// Image layout (block = Options::block_size):
//   [0, D)        the superblock at byte 1024, the rest zero (D = 1 for 4 KiB blocks)
//   [D, S)        file data streamed through sink(), in the order files arrived
//   [S, M)        data finish() places: bodies copied from other sources, relocated
//                 files, symlink and directory blocks that do not fit inline
//   [M, end)      metadata (meta_blkaddr = M): inodes, inline xattrs, inline tails
// Metadata comes last so that file bodies can be written once, as a tar streams by.
//
// Contract, in call order:
//  1. create(): the writer owns nothing of out_fd but truncates it to zero length;
//     sources() then holds the output as source 0 (kOutputSource) and the tail spool
//     as source 1. Callers may add more sources (e.g. layer images for copying mode).
//  2. sink() (optional, streaming mode): for each regular file call begin(size),
//     write() its chunks at increasing offsets (gaps are holes), then finish(), which
//     returns the file's FileData. Put that FileData, unchanged, into the tree.
//     A file whose tail (size % block_size) is at most block_size / 2 has its full
//     blocks in the data area and its tail in the spool (body.source == 0,
//     tail.source == 1); the tail is packed inline after the inode (FLAT_INLINE) by
//     finish(). A larger tail is padded into a data block at once (FLAT_PLAIN:
//     body.length == size, tail.length == 0). Memory per file is O(1). Files that
//     end up unreachable (replaced by a later tar entry) just leave unused blocks.
//     Beginning a file before the previous one finished abandons the previous one.
//  3. finish(tree) once: every reachable inode is written. Regular files' FileData
//     may point at any registered source: extents into the output (as made by
//     sink()) are referenced in place, anything else is copied (copy_file_range,
//     holes kept). A streamed file whose spooled tail cannot share a block with its
//     inode and xattrs is copied to fresh blocks (stats().relocated_files).
//     Requirements, checked with errors naming the path: names are 1..255 bytes
//     without '/' or NUL and not "." or ".."; a directory has one name;
//     body.length + tail.length == size; extents lie inside their sources; xattr
//     names use the user., trusted., security. or system.posix_acl_{access,default}
//     prefixes, are at most 255 bytes long, and have values < 64 KiB; device
//     numbers fit 12-bit major / 20-bit minor; symlink targets are non-empty; the
//     image stays below 2^32 blocks (16 TiB at 4 KiB). After an error the output
//     is garbage; the caller discards it.
//  4. The caller commits (AtomicFile::commit) the output; stats() reports sizes.
//
// Output is deterministic: the same tree, the same streamed input and options give
// the same bytes. Inodes get nids breadth-first from the root (root nid 0), children
// by name; inodes are compact when size < 4 GiB, uid/gid/nlink < 65536 and the mtime
// equals the superblock build time, which is the most common mtime in the tree. The
// UUID, unless given, is derived from a SHA-256 of the metadata.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tree/data_sink.h"
#include "tree/tree.h"
#include "util/fd.h"
#include "vmimage/result.h"
#include "util/buffered_io.h"
#include "util/writeback.h"

namespace vmimage::verity {
class DataHasher;
}

namespace vmimage::erofs {

struct Plan;

constexpr uint32_t kOutputSource = 0;
constexpr uint32_t kSpoolSource = 1;

struct Options {
  uint32_t block_size = 4096;  // power of two, 512..65536; Linux mounts only <= page size
  std::optional<std::array<uint8_t, 16>> uuid;  // default: derived from the metadata
  std::string volume_label;                     // at most 15 bytes
  // kDropBehind for outputs nobody reads back soon (`vmimage mkfs`): written
  // ranges leave the page cache once on disk (util/writeback.h).
  PageCache page_cache = PageCache::kKeep;
  // Hashes the image's 4 KiB blocks for a dm-verity tree (verity/tree.h) as they
  // are written: what sink() streams as it passes, the rest read back by
  // finish(). The caller appends the tree once finish() returns.
  verity::DataHasher* verity = nullptr;
};

struct Stats {
  uint64_t inodes = 0;
  uint64_t compact_inodes = 0;
  uint64_t extended_inodes = 0;
  uint64_t inline_inodes = 0;    // FLAT_INLINE: tail packed after the inode
  uint64_t relocated_files = 0;  // streamed files moved because their tail did not fit
  uint64_t streamed_bytes = 0;   // file bytes received through sink()
  uint64_t copied_bytes = 0;     // bytes copied from other sources by finish()
  uint64_t data_blocks = 0;      // blocks before meta_blkaddr (superblock area included)
  uint64_t meta_blocks = 0;
  uint64_t total_blocks = 0;
  uint64_t image_bytes = 0;
};

class ImageWriter {
 public:
  // out_fd stays owned by the caller; out_name names it in errors. The tail spool
  // is an anonymous scratch file in scratch_dir.
  static Result<std::unique_ptr<ImageWriter>> create(int out_fd, std::string out_name,
                                                     const std::string& scratch_dir,
                                                     Options options = {});
  ~ImageWriter();
  ImageWriter(const ImageWriter&) = delete;
  ImageWriter& operator=(const ImageWriter&) = delete;

  tree::FileDataSink& sink();
  // Optional, after the last file went through sink(): flushes and frees the
  // write buffers (a writer may wait a while for finish()).
  Status end_stream();
  tree::DataSources& sources() { return sources_; }
  // Sets the superblock UUID before finish(), for callers that derive it from
  // content they only know once the input has streamed by (e.g. a layer's DiffID).
  void set_uuid(const std::array<uint8_t, 16>& uuid) { options_.uuid = uuid; }
  Status finish(const tree::Tree& tree);
  const Stats& stats() const { return stats_; }
  uint32_t block_size() const { return options_.block_size; }

 private:
  class StreamSink;
  friend class StreamSink;
  ImageWriter(int out_fd, std::string out_name, UniqueFd spool, Options options);
  // Flushes what the sink buffered, then measures every source.
  Result<std::vector<uint64_t>> source_sizes();
  Status write_superblock(const Plan& plan, const std::string& meta_digest);
  // Streamed blocks are hashed as they pass when they are the tree's blocks.
  bool hash_stream() const { return options_.verity && options_.block_size == 4096; }
  Status hash_the_rest(const Plan& plan, uint64_t image_bytes);

  int out_fd_;
  std::string out_name_;
  UniqueFd spool_fd_;
  Options options_;
  WritebackStarter writeback_;
  CoalescingWriter body_writer_;   // file bodies, laid end to end in the data area
  CoalescingWriter spool_writer_;  // tails, appended to the spool
  tree::DataSources sources_;
  std::unique_ptr<StreamSink> sink_;
  uint64_t first_data_block_ = 0;  // first block after the superblock
  uint64_t next_block_ = 0;        // first block not yet reserved by sink()
  uint64_t streamed_end_block_ = 0;  // next_block_ when finish() began
  uint64_t spool_end_ = 0;         // spool bytes reserved so far
  uint64_t spool_size_ = 0;        // spool bytes known to exist (written or truncated)
  bool finished_ = false;
  Stats stats_;
};

}  // namespace vmimage::erofs
