#include "io/read_ahead.h"

#include <algorithm>
#include <cstring>

namespace vmimage::io {

ReadAheadReader::ReadAheadReader(std::unique_ptr<Reader> inner, size_t buffer_size, size_t depth)
    : inner_(std::move(inner)), buffer_size_(buffer_size), empty_(std::max<size_t>(depth, 2)) {
  worker_ = std::thread([this] { run(); });
}

ReadAheadReader::~ReadAheadReader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  changed_.notify_all();
  worker_.join();
}

void ReadAheadReader::run() {
  while (true) {
    std::vector<std::byte> buf;
    {
      std::unique_lock<std::mutex> lock(mu_);
      changed_.wait(lock, [&] { return stop_ || !empty_.empty(); });
      if (stop_) return;
      buf = std::move(empty_.back());
      empty_.pop_back();
    }
    // Fill the buffer; bytes read before an error or the end still go out.
    // (Buffers keep their size: growing one again would zero it first.)
    if (buf.size() < buffer_size_) buf.resize(buffer_size_);
    size_t filled = 0;
    std::optional<Error> error;
    while (filled < buf.size()) {
      Result<size_t> n = inner_->read(std::span(buf).subspan(filled));
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
      if (filled > 0) filled_.push_back(Chunk{std::move(buf), filled});
      error_ = std::move(error);
      ended_ = last && !error_;
    }
    changed_.notify_all();
    if (last) return;
  }
}

Result<size_t> ReadAheadReader::read(std::span<std::byte> buf) {
  if (buf.empty()) return size_t{0};
  if (pos_ == current_.size) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!current_.data.empty()) {
      empty_.push_back(std::move(current_.data));
      changed_.notify_all();
    }
    current_ = {};
    pos_ = 0;
    changed_.wait(lock, [&] { return !filled_.empty() || ended_ || error_; });
    if (filled_.empty()) {
      if (error_) return *error_;
      return size_t{0};
    }
    current_ = std::move(filled_.front());
    filled_.pop_front();
  }
  size_t n = std::min(buf.size(), current_.size - pos_);
  std::memcpy(buf.data(), current_.data.data() + pos_, n);
  pos_ += n;
  return n;
}

}  // namespace vmimage::io
