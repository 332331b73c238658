// ReadAheadReader: reads its inner reader on a worker thread, a few buffers
// ahead, so that producing a stream (network, gzip/zstd decompression) and
// consuming it (tar parsing, image writing) run on two cores at once.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "io/reader.h"

namespace vmimage::io {

class ReadAheadReader : public Reader {
 public:
  // Memory: at most `depth` buffers of `buffer_size` bytes.
  explicit ReadAheadReader(std::unique_ptr<Reader> inner, size_t buffer_size = size_t{1} << 20,
                           size_t depth = 4);
  // Stops the worker; a read it is in waits for its inner read to return.
  ~ReadAheadReader() override;
  ReadAheadReader(const ReadAheadReader&) = delete;
  ReadAheadReader& operator=(const ReadAheadReader&) = delete;

  // The inner reader's bytes in order; its error once the bytes before it are read.
  Result<size_t> read(std::span<std::byte> buf) override;

 private:
  struct Chunk {
    std::vector<std::byte> data;
    size_t size = 0;  // bytes of data in use
  };
  void run();

  std::unique_ptr<Reader> inner_;  // used only by the worker until it ends
  size_t buffer_size_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Chunk> filled_;
  std::vector<std::vector<std::byte>> empty_;
  bool ended_ = false;          // the worker saw the end of the stream
  std::optional<Error> error_;  // or failed
  bool stop_ = false;
  Chunk current_;  // the consumer's
  size_t pos_ = 0;
  std::thread worker_;
};

}  // namespace vmimage::io
