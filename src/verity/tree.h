// dm-verity hash trees (kernel Documentation/admin-guide/device-mapper/verity.rst,
// cryptsetup's on-disk superblock): format version 1, SHA-256 of salt || block,
// 4096-byte data and hash blocks. A blob with a tree is laid out as
//   [0, data_size)                  the filesystem, zero-padded to a 4096 multiple
//   [hash_offset, +4096)            the veritysetup superblock (512 bytes used)
//   [hash_offset + 4096, end)       the levels, the one nearest the root first
// with hash_offset == data_size.
//
// DataHasher computes the hashes of the data blocks (level 0) while the image is
// written: add() takes bytes in increasing offsets (gaps are zeros), read_back()
// hashes a range from the file where bytes never passed through the caller.
// The hashing runs on a worker thread, so it overlaps with the writing; level 0
// goes to an anonymous scratch file (16 MiB per GiB of data), so memory stays
// bounded (at most kQueueBlocks blocks in flight) however large the image is.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "util/fd.h"
#include "vmimage/result.h"
#include "vmimage/types.h"

namespace vmimage::verity {

constexpr uint32_t kBlock = 4096;
using Salt = std::array<uint8_t, 32>;

// The salt of a blob: derived from what identifies its content, so the same
// input gives the same tree.
Salt derive_salt(std::string_view identity);
// 64 hex digits (either case); none for anything else.
std::optional<Salt> parse_salt(std::string_view hex);

class DataHasher {
 public:
  static Result<std::unique_ptr<DataHasher>> create(const std::string& scratch_dir, const Salt& salt);
  ~DataHasher();
  DataHasher(const DataHasher&) = delete;
  DataHasher& operator=(const DataHasher&) = delete;

  // Bytes of the image at `offset`, at or after the end of the previous add()
  // of this run; skipped bytes are zeros.
  Status add(uint64_t offset, std::span<const std::byte> data);
  // Ends the run of add()s: the rest of its last block is zeros. The next add()
  // may start anywhere not hashed yet, on a block boundary.
  Status end_run();
  // Hashes [begin, end) of `fd` as it is now; begin is block-aligned, bytes past
  // the end of the file are zeros.
  Status read_back(int fd, uint64_t begin, uint64_t end, const std::string& name);
  // Once every block of [0, image_size) has been hashed exactly once: pads the
  // image to a 4096 multiple and writes the superblock and the tree after it.
  Result<VerityInfo> append_tree(int fd, uint64_t image_size, const std::string& name);

 private:
  friend Status check_tree(int fd, const std::string& name, const VerityInfo& verity,
                           const std::string& scratch_dir);
  struct Job {
    uint64_t first_block = 0;
    uint64_t zero_blocks = 0;     // a run of zero blocks (no bytes)
    std::vector<std::byte> data;  // whole blocks
  };
  DataHasher(UniqueFd level0, const Salt& salt);
  Status submit(Job job);
  Status flush_buffer(bool pad);
  Status append_zeros(uint64_t n);
  void run();
  Status wait_idle();
  Status cover(uint64_t first, uint64_t count);

  UniqueFd level0_;
  Salt salt_;
  // The current run: buffer_ holds bytes from block buffer_block_ on.
  bool in_run_ = false;
  uint64_t cursor_ = 0;
  uint64_t buffer_block_ = 0;
  std::vector<std::byte> buffer_;
  std::vector<std::pair<uint64_t, uint64_t>> covered_;  // [first, end) block ranges submitted

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  size_t queued_blocks_ = 0;
  bool busy_ = false;
  bool stop_ = false;
  std::optional<Error> error_;
  std::thread worker_;
};

// Hashes the whole image in `fd` by reading it back and appends the tree: for
// images whose bytes never passed through the writer (copy_file_range) or were
// rewritten late (libext2fs).
Result<VerityInfo> append_tree_by_reading(int fd, const std::string& name,
                                          const std::string& scratch_dir, const Salt& salt);

// Recomputes the tree of a blob from its data and compares it, superblock and
// root hash included, with what the blob holds. kStoreRead names what differs.
Status check_tree(int fd, const std::string& name, const VerityInfo& verity,
                  const std::string& scratch_dir);

// The superblock's fields, as veritysetup reads them (for tests and tools).
struct Superblock {
  uint32_t version = 0;
  uint32_t hash_type = 0;
  std::string algorithm;
  uint32_t data_block_size = 0;
  uint32_t hash_block_size = 0;
  uint64_t data_blocks = 0;
  std::string salt_hex;
};
Result<Superblock> parse_superblock(std::span<const std::byte> block);

std::string hex(std::span<const uint8_t> bytes);

}  // namespace vmimage::verity
