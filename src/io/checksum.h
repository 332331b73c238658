// Checksums of local files, for the store's `verify`: XXH3-128 (xxHash), which
// runs at memory speed, so sealing a blob costs one fast read. It detects damage
// (bit rot, truncation, edits by hand), not tampering: content identity stays
// with the SHA-256 digests (DiffIDs, blob digests) that key the blobs.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "vmimage/result.h"

struct XXH3_state_s;

namespace vmimage::io {

// Streaming XXH3-128, for fingerprints that need to be fast and stable, not
// secure (file checksums, UUIDs derived from content).
class Xxh3Hash {
 public:
  Xxh3Hash();
  ~Xxh3Hash();
  Xxh3Hash(const Xxh3Hash&) = delete;
  Xxh3Hash& operator=(const Xxh3Hash&) = delete;
  void update(std::span<const std::byte> data);
  void update(std::string_view data);
  std::string finish_raw();  // the 16 bytes, big-endian (XXH128_canonical_t)
  std::string finish_hex();  // 32 lower-case hex digits

 private:
  struct Deleter {
    void operator()(XXH3_state_s* s) const;
  };
  std::unique_ptr<XXH3_state_s, Deleter> state_;
};

// "xxh3-128x4m": the file in 4 MiB stripes, each hashed with XXH3-128 (on
// several threads), and the XXH3-128 of the stripes' 16-byte canonical digests
// in order. Reproducible with `split -b 4M`, `xxhsum -H2` and `xxd -r -p`.
inline constexpr std::string_view kFileChecksumAlgorithm = "xxh3-128x4m";

// "<algorithm>:<lower-case hex>" of the bytes of `fd` from offset 0 to its end.
// `algorithm` is kFileChecksumAlgorithm, or one recorded by older stores:
// "xxh3-128" (XXH3-128 of the whole file; schema 3 before 2026-11-27) or
// "sha256" (before schema 3). `what` names the file in errors.
Result<std::string> file_checksum(int fd, const std::string& what, ErrorKind kind,
                                  std::string_view algorithm = kFileChecksumAlgorithm);

// The algorithm named by a checksum's prefix (one of the above), "" when unknown.
std::string_view checksum_algorithm(std::string_view checksum);

}  // namespace vmimage::io
