#include "io/read_ahead.h"

#include <algorithm>
#include <cstring>

namespace vmimage::io {

ReadAheadReader::ReadAheadReader(std::unique_ptr<Reader> inner, size_t buffer_size, size_t depth,
                                 Observer observer)
    : inner_(std::move(inner)), observer_(std::move(observer)),
      buffer_size_(std::max<size_t>(buffer_size, 1)), slots_(std::max<size_t>(depth, 2)) {
  for (Slot& s : slots_) s.data.reset(new std::byte[buffer_size_]);
  producer_ = std::thread([this] { produce(); });
  if (observer_) observer_thread_ = std::thread([this] { observe(); });
}

ReadAheadReader::~ReadAheadReader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  space_.notify_all();
  filled_.notify_all();
  producer_.join();
  if (observer_thread_.joinable()) observer_thread_.join();
}

void ReadAheadReader::produce() {
  while (true) {
    uint64_t index = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      space_.wait(lock, [&] {
        uint64_t oldest = std::min(observed_count_, released_count_);
        return stop_ || filled_count_ - oldest < slots_.size();
      });
      if (stop_) return;
      index = filled_count_;
    }
    // Fill the slot; bytes read before an error or the end still go out.
    std::span<std::byte> buf(slot(index).data.get(), buffer_size_);
    size_t filled = 0;
    std::optional<Error> error;
    while (filled < buf.size()) {
      Result<size_t> n = inner_->read(buf.subspan(filled));
      if (!n.ok()) {
        error = std::move(n).error();
        break;
      }
      if (*n == 0) break;
      filled += *n;
    }
    bool last = error || filled < buf.size();
    {
      std::lock_guard<std::mutex> lock(mu_);
      slot(index).size = filled;
      if (filled > 0) {
        ++filled_count_;
        if (!observer_) ++observed_count_;
      }
      error_ = std::move(error);
      ended_ = last && !error_;
    }
    filled_.notify_all();
    if (last) return;
  }
}

void ReadAheadReader::observe() {
  while (true) {
    uint64_t index = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      filled_.wait(lock, [&] {
        return stop_ || observed_count_ < filled_count_ || ended_ || error_;
      });
      if (stop_ || observed_count_ == filled_count_) return;  // stopped, or saw it all
      index = observed_count_;
    }
    observer_(std::span<const std::byte>(slot(index).data.get(), slot(index).size));
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++observed_count_;
    }
    space_.notify_one();
    filled_.notify_all();  // the consumer may wait for the observer at the end
  }
}

// The consumer owns chunk released_count_ while pos_ is inside it; counters
// change under the lock only when a chunk is used up.
Result<bool> ReadAheadReader::next_chunk() {
  if (pos_ != 0 && pos_ < slot(released_count_).size) return true;
  std::unique_lock<std::mutex> lock(mu_);
  if (pos_ != 0) {
    ++released_count_;
    pos_ = 0;
    space_.notify_one();
  }
  filled_.wait(lock, [&] {
    return released_count_ < filled_count_ ||
           ((ended_ || error_) && observed_count_ == filled_count_);
  });
  if (released_count_ < filled_count_) return true;
  if (error_) return *error_;
  return false;
}

Result<size_t> ReadAheadReader::read(std::span<std::byte> buf) {
  if (buf.empty()) return size_t{0};
  VMI_TRY(bool more, next_chunk());
  if (!more) return size_t{0};
  const Slot& current = slot(released_count_);
  size_t n = std::min(buf.size(), current.size - pos_);
  std::memcpy(buf.data(), current.data.get() + pos_, n);
  pos_ += n;
  return n;
}

Result<std::span<const std::byte>> ReadAheadReader::read_view(std::span<std::byte>) {
  VMI_TRY(bool more, next_chunk());
  if (!more) return std::span<const std::byte>();
  const Slot& current = slot(released_count_);
  std::span<const std::byte> view(current.data.get() + pos_, current.size - pos_);
  pos_ = current.size;  // released by the next call
  return view;
}

}  // namespace vmimage::io
