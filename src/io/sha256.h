// SHA-256 (OpenSSL EVP) and a Reader that hashes what passes through it and
// checks the digest and size when the stream ends.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>
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
  // Continues from where `other` is (the bytes it has seen, as if seen here);
  // false when OpenSSL could not (out of memory).
  [[nodiscard]] bool copy_from(const Sha256& other);
  // "sha256:<64 lower-case hex>"; the hasher is reset afterwards.
  std::string finish_digest();
  // The 32 digest bytes, raw; resets like finish_digest().
  std::string finish_raw();

 private:
  EVP_MD_CTX* ctx_;
};

std::string sha256_digest(std::string_view data);

// SHA-256 on a worker thread: update() copies the bytes into a bounded queue
// (blocking while 512 KiB wait), so hashing a stream overlaps with whatever
// produces and consumes it (inflate, tar parsing, writing) on another core.
class BackgroundSha256 {
 public:
  BackgroundSha256();
  ~BackgroundSha256();
  BackgroundSha256(const BackgroundSha256&) = delete;
  BackgroundSha256& operator=(const BackgroundSha256&) = delete;

  void update(std::span<const std::byte> data);
  // Waits for the queued bytes, then returns "sha256:<hex>"; the hasher is reset.
  std::string finish_digest();
  // The 32 digest bytes, raw; resets like finish_digest().
  std::string finish_raw();

 private:
  void run();

  static constexpr size_t kMaxQueued = 512 << 10;
  static constexpr size_t kChunk = 128 << 10;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::vector<std::byte>> queue_;
  std::vector<std::vector<std::byte>> spare_;
  size_t queued_ = 0;
  bool busy_ = false;  // the worker is hashing a chunk it took off the queue
  bool stop_ = false;
  bool draining_ = false;  // finish_digest() waits: short chunks are taken too
  Sha256 hash_;
  std::thread worker_;
};

// Where a HashingReader hashes.
enum class HashOn {
  kCaller,     // in read(), on the caller's thread
  kWorker,     // on a worker thread, fed copies (BackgroundSha256)
  kReadAhead,  // the inner reader runs a few MiB ahead on one thread (a
               // ReadAheadReader) and the hash reads its buffers in place on
               // another: for long streams with a costly producer (decompression)
};

// Passes bytes through, hashing them. At end of stream, when an expected digest
// (and size) is set, a mismatch turns the final read into an error, so nothing
// downstream can take a corrupt stream as complete.
class HashingReader : public Reader {
 public:
  HashingReader(std::unique_ptr<Reader> inner, std::string what,
                std::optional<std::string> expected_digest = std::nullopt,
                std::optional<uint64_t> expected_size = std::nullopt,
                HashOn where = HashOn::kCaller);
  ~HashingReader() override;
  Result<size_t> read(std::span<std::byte> buf) override;
  Result<std::span<const std::byte>> read_view(std::span<std::byte> scratch) override;

  uint64_t bytes() const { return bytes_; }
  // Valid once read() returned 0.
  const std::string& digest() const { return digest_; }

 private:
  Sha256 hash_;  // before inner_: a read-ahead's observer thread uses it
  std::unique_ptr<BackgroundSha256> background_;
  std::unique_ptr<Reader> inner_;
  std::string what_;
  std::optional<std::string> expected_digest_;
  std::optional<uint64_t> expected_size_;
  // Hashes and counts the bytes a read gave; at the end (none), checks them.
  Status account(std::span<const std::byte> got);

  static constexpr size_t kReadAheadBuffer = size_t{1} << 20;
  static constexpr size_t kReadAheadDepth = 6;
  bool observed_ = false;  // HashOn::kReadAhead: the read-ahead feeds hash_
  uint64_t bytes_ = 0;
  std::string digest_;
};

}  // namespace vmimage::io
