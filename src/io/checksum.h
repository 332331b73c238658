// Checksums of local files, for the store's `verify`: XXH3-128 (xxHash), which
// runs at memory speed, so sealing a blob costs one fast read. It detects damage
// (bit rot, truncation, edits by hand), not tampering: content identity stays
// with the SHA-256 digests (DiffIDs, blob digests) that key the blobs.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "util/result.h"

struct XXH3_state_s;

namespace vmimage::io {

// Streaming XXH3-128, for fingerprints that need to be fast and stable, not
// secure (file checksums, UUIDs derived from content).
class Xxh3_128 {
 public:
  Xxh3_128();
  ~Xxh3_128();
  Xxh3_128(const Xxh3_128&) = delete;
  Xxh3_128& operator=(const Xxh3_128&) = delete;
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

inline constexpr std::string_view kFileChecksumAlgorithm = "xxh3-128";

// "xxh3-128:<32 lower-case hex>" of the bytes of `fd` from offset 0 to its end,
// or, for `algorithm` "sha256" (blobs recorded before store schema 3), "sha256:<hex>".
// `what` names the file in errors.
Result<std::string> file_checksum(int fd, const std::string& what, ErrorKind kind,
                                  std::string_view algorithm = kFileChecksumAlgorithm);

// The algorithm named by a checksum's prefix ("xxh3-128", "sha256"), "" when unknown.
std::string_view checksum_algorithm(std::string_view checksum);

}  // namespace vmimage::io
