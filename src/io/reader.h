// Byte streams: Reader is a pull-based source (read() returns 0 at end of stream).
// Readers compose: a file, a decompressor, a verifying hasher, an HTTP body.
#pragma once

#include <cstddef>
#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "util/fd.h"
#include "vmimage/result.h"

namespace vmimage::io {

// A cancellation flag (CancelToken::flag()); null: never cancelled. See io/cancel.h.
using CancelFlag = const std::atomic<bool>*;

class Reader {
 public:
  virtual ~Reader() = default;
  // Reads up to buf.size() bytes; returns 0 only at the end of the stream.
  virtual Result<size_t> read(std::span<std::byte> buf) = 0;
  // Like read(), but a reader that holds the bytes in its own buffer may return
  // them in place, in any amount, instead of copying them into `scratch`. The
  // view is valid until the next call on this reader; empty only at the end.
  virtual Result<std::span<const std::byte>> read_view(std::span<std::byte> scratch) {
    VMI_TRY(size_t n, read(scratch));
    return std::span<const std::byte>(scratch.first(n));
  }
};

// Reads until buf is full or the stream ends; returns the bytes read.
Result<size_t> read_full(Reader& reader, std::span<std::byte> buf);
// Reads and discards the rest of the stream (so verifying readers see EOF).
Status drain(Reader& reader);
// Reads a whole (small) stream into memory, failing past `limit` bytes.
Result<std::string> read_all(Reader& reader, size_t limit);

// Reads a file descriptor it owns (or borrows, when `owned` is false).
class FdReader : public Reader {
 public:
  FdReader(UniqueFd fd, std::string name) : fd_(std::move(fd)), raw_(fd_.get()), name_(std::move(name)) {}
  FdReader(int borrowed_fd, std::string name) : raw_(borrowed_fd), name_(std::move(name)) {}
  static Result<std::unique_ptr<FdReader>> open(const std::string& path);
  Result<size_t> read(std::span<std::byte> buf) override;
  // With a flag, a read that would block (a pipe, a terminal) waits in short
  // polls and fails with kCancelled once the flag is set.
  void set_cancel(CancelFlag flag) { cancel_ = flag; }

 private:
  UniqueFd fd_;
  int raw_;
  std::string name_;
  CancelFlag cancel_ = nullptr;
};

// Reads a stream it does not own, for wrappers (decompressors, hashers) that own
// their inner reader.
class BorrowedReader : public Reader {
 public:
  explicit BorrowedReader(Reader& inner) : inner_(inner) {}
  Result<size_t> read(std::span<std::byte> buf) override { return inner_.read(buf); }
  Result<std::span<const std::byte>> read_view(std::span<std::byte> scratch) override {
    return inner_.read_view(scratch);
  }

 private:
  Reader& inner_;
};

class MemoryReader : public Reader {
 public:
  explicit MemoryReader(std::string data) : data_(std::move(data)) {}
  Result<size_t> read(std::span<std::byte> buf) override;

 private:
  std::string data_;
  size_t pos_ = 0;
};

// Returns the first bytes of a stream to the reader before the rest: used to sniff magic.
class PeekReader : public Reader {
 public:
  explicit PeekReader(std::unique_ptr<Reader> inner) : inner_(std::move(inner)) {}
  // Makes at least n bytes (fewer at end of stream) available to peek().
  Result<std::span<const std::byte>> peek(size_t n);
  Result<size_t> read(std::span<std::byte> buf) override;

 private:
  std::unique_ptr<Reader> inner_;
  std::vector<std::byte> buffered_;
  size_t pos_ = 0;
};

}  // namespace vmimage::io
