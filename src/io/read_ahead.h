// ReadAheadReader: reads its inner reader on a worker thread, a few buffers
// ahead, so that producing a stream (network, gzip/zstd decompression) and
// consuming it (tar parsing, image writing) run on two cores at once. An
// optional observer (a digest) sees every buffer in place on a third thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "io/reader.h"

namespace vmimage::io {

class ReadAheadReader : public Reader {
 public:
  // Called with the stream's bytes, in order, on its own thread.
  using Observer = std::function<void(std::span<const std::byte>)>;

  // Memory: `depth` buffers of `buffer_size` bytes. A buffer is refilled only
  // after the consumer and the observer are both done with it, so the observer
  // reads the bytes where the worker put them: no copy.
  explicit ReadAheadReader(std::unique_ptr<Reader> inner, size_t buffer_size = size_t{1} << 20,
                           size_t depth = 4, Observer observer = {});
  // Stops the threads; a read the worker is in waits for its inner read to return.
  ~ReadAheadReader() override;
  ReadAheadReader(const ReadAheadReader&) = delete;
  ReadAheadReader& operator=(const ReadAheadReader&) = delete;

  // The inner reader's bytes in order; its error once the bytes before it are
  // read. The end (0) comes only after the observer has seen every byte.
  Result<size_t> read(std::span<std::byte> buf) override;
  // The rest of the current buffer, in place.
  Result<std::span<const std::byte>> read_view(std::span<std::byte> scratch) override;

 private:
  struct Slot {
    std::unique_ptr<std::byte[]> data;  // not zeroed: pages are touched only when filled
    size_t size = 0;                    // bytes of data in use
  };
  void produce();
  void observe();
  Slot& slot(uint64_t index) { return slots_[index % slots_.size()]; }
  // Makes sure the consumer holds a chunk with unread bytes; false at the end.
  Result<bool> next_chunk();

  std::unique_ptr<Reader> inner_;  // used only by the worker until it ends
  Observer observer_;
  size_t buffer_size_;
  std::vector<Slot> slots_;  // a ring: buffer i holds chunk i % depth
  std::mutex mu_;
  std::condition_variable space_;   // the worker waits for a free slot
  std::condition_variable filled_;  // the consumer and the observer wait for a chunk
  // Chunks filled by the worker, seen by the observer, released by the consumer.
  uint64_t filled_count_ = 0;
  uint64_t observed_count_ = 0;
  uint64_t released_count_ = 0;
  bool ended_ = false;          // the worker saw the end of the stream
  std::optional<Error> error_;  // or failed
  bool stop_ = false;
  size_t pos_ = 0;  // the consumer's offset in chunk released_count_
  std::thread producer_;
  std::thread observer_thread_;
};

}  // namespace vmimage::io
