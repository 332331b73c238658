#include "io/reader.h"

#include "io/cancel.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace vmimage::io {

Result<size_t> read_full(Reader& reader, std::span<std::byte> buf) {
  size_t total = 0;
  while (total < buf.size()) {
    VMI_TRY(size_t n, reader.read(buf.subspan(total)));
    if (n == 0) break;
    total += n;
  }
  return total;
}

Status drain(Reader& reader) {
  std::vector<std::byte> buf(64 * 1024);
  while (true) {
    VMI_TRY(size_t n, reader.read(buf));
    if (n == 0) return {};
  }
}

Result<std::string> read_all(Reader& reader, size_t limit) {
  std::string out;
  std::byte buf[16384];
  while (true) {
    VMI_TRY(size_t n, reader.read(buf));
    if (n == 0) return out;
    if (out.size() + n > limit) {
      return Error(ErrorKind::kIo, "document larger than " + std::to_string(limit) + " bytes");
    }
    out.append(reinterpret_cast<const char*>(buf), n);
  }
}

Result<std::unique_ptr<FdReader>> FdReader::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sys_error(ErrorKind::kIo, "opening " + path);
  return std::make_unique<FdReader>(UniqueFd(fd), path);
}

Result<size_t> FdReader::read(std::span<std::byte> buf) {
  while (cancel_ != nullptr) {
    if (cancel_->load(std::memory_order_relaxed)) return cancelled_error();
    pollfd p{raw_, POLLIN, 0};
    int ready = ::poll(&p, 1, 200);
    if (ready > 0 || (ready < 0 && errno != EINTR)) break;  // read() says what it is
  }
  while (true) {
    ssize_t n = ::read(raw_, buf.data(), buf.size());
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return sys_error(ErrorKind::kIo, "reading " + name_);
  }
}

Result<size_t> MemoryReader::read(std::span<std::byte> buf) {
  size_t n = std::min(buf.size(), data_.size() - pos_);
  std::memcpy(buf.data(), data_.data() + pos_, n);
  pos_ += n;
  return n;
}

Result<std::span<const std::byte>> PeekReader::peek(size_t n) {
  while (buffered_.size() - pos_ < n) {
    size_t have = buffered_.size();
    buffered_.resize(have + (n - (have - pos_)));
    VMI_TRY(size_t got, inner_->read(std::span(buffered_).subspan(have)));
    buffered_.resize(have + got);
    if (got == 0) break;
  }
  return std::span<const std::byte>(buffered_).subspan(pos_);
}

Result<size_t> PeekReader::read(std::span<std::byte> buf) {
  if (pos_ < buffered_.size()) {
    size_t n = std::min(buf.size(), buffered_.size() - pos_);
    std::memcpy(buf.data(), buffered_.data() + pos_, n);
    pos_ += n;
    if (pos_ == buffered_.size()) {
      buffered_.clear();
      pos_ = 0;
    }
    return n;
  }
  return inner_->read(buf);
}

}  // namespace vmimage::io
