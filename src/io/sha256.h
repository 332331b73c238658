// SHA-256 (OpenSSL EVP) and a Reader that hashes what passes through it and
// checks the digest and size when the stream ends.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "io/reader.h"

namespace vmimage::io {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::span<const std::byte> data);
  void update(std::string_view data);
  // "sha256:<64 lower-case hex>"; the hasher is reset afterwards.
  std::string finish_digest();

 private:
  EVP_MD_CTX* ctx_;
};

std::string sha256_digest(std::string_view data);

// Passes bytes through, hashing them. At end of stream, when an expected digest
// (and size) is set, a mismatch turns the final read into an error, so nothing
// downstream can take a corrupt stream as complete.
class HashingReader : public Reader {
 public:
  HashingReader(std::unique_ptr<Reader> inner, std::string what,
                std::optional<std::string> expected_digest = std::nullopt,
                std::optional<uint64_t> expected_size = std::nullopt);
  Result<size_t> read(std::span<std::byte> buf) override;

  uint64_t bytes() const { return bytes_; }
  // Valid once read() returned 0.
  const std::string& digest() const { return digest_; }

 private:
  std::unique_ptr<Reader> inner_;
  std::string what_;
  std::optional<std::string> expected_digest_;
  std::optional<uint64_t> expected_size_;
  Sha256 hash_;
  uint64_t bytes_ = 0;
  std::string digest_;
};

}  // namespace vmimage::io
