#include "io/checksum.h"

#include "util/parallel.h"

#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <new>
#include <optional>
#include <thread>
#include <vector>

#include "io/sha256.h"
#include "util/file.h"

namespace vmimage::io {
namespace {

constexpr uint64_t kToTheEnd = UINT64_MAX;
constexpr uint64_t kStripe = uint64_t{4} << 20;  // of kFileChecksumAlgorithm

// Feeds [begin, end) of the file to `update` in reads of buf's size; with end
// kToTheEnd, up to the end of the file, whatever its size.
template <typename Update>
Status read_range(int fd, uint64_t begin, uint64_t end, const std::string& what, ErrorKind kind,
                  std::vector<std::byte>& buf, Update update) {
  for (uint64_t offset = begin; offset < end;) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - offset));
    ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error(kind, "reading " + what + " at offset " + std::to_string(offset));
    if (n == 0 && end == kToTheEnd) return {};
    if (n == 0) return Error(kind, what + " shrank while it was read (at offset " +
                                       std::to_string(offset) + ")");
    update(std::span<const std::byte>(buf.data(), static_cast<size_t>(n)));
    offset += static_cast<uint64_t>(n);
  }
  return {};
}

// Like read_range, but the file's holes (SEEK_HOLE) are fed as zeros from
// memory instead of being read: a sparse image's holes cost no copy.
template <typename Update>
Status read_range_sparse(int fd, uint64_t begin, uint64_t end, const std::string& what,
                         ErrorKind kind, std::vector<std::byte>& buf, Update update) {
  static const std::vector<std::byte> kZeros(1 << 20);
  for (uint64_t pos = begin; pos < end;) {
    DataSegment data = next_data_segment(fd, pos, end);
    for (; pos < data.start;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kZeros.size(), data.start - pos));
      update(std::span<const std::byte>(kZeros.data(), n));
      pos += n;
    }
    if (pos >= end) break;
    VMI_CHECK(read_range(fd, pos, data.stop, what, kind, buf, update));
    pos = data.stop;
  }
  return {};
}

// The whole file, in 1 MiB reads.
template <typename Update>
Status read_file(int fd, const std::string& what, ErrorKind kind, Update update) {
  std::vector<std::byte> buf(1 << 20);
  return read_range(fd, 0, kToTheEnd, what, kind, buf, update);
}

Result<std::string> xxh3_128(int fd, const std::string& what, ErrorKind kind) {
  Xxh3Hash hash;
  VMI_CHECK(read_file(fd, what, kind, [&](std::span<const std::byte> data) { hash.update(data); }));
  return "xxh3-128:" + hash.finish_hex();
}

// The digest of a whole stripe of zeros, computed once.
const std::string& zero_stripe_digest() {
  static const std::string kDigest = [] {
    std::vector<std::byte> zeros(static_cast<size_t>(kStripe));
    Xxh3Hash hash;
    hash.update(zeros);
    return hash.finish_raw();
  }();
  return kDigest;
}

// The stripes are independent, so a blob is sealed by as many cores as are idle
// while its fsync waits for the disk.
Result<std::string> xxh3_128_striped(int fd, const std::string& what, ErrorKind kind) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return sys_error(kind, "inspecting " + what);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  size_t stripes = static_cast<size_t>((size + kStripe - 1) / kStripe);
  std::vector<std::string> digests(stripes);
  int threads = static_cast<int>(std::min<size_t>(4, std::max(1u, std::thread::hardware_concurrency())));
  VMI_CHECK(parallel_for(stripes, threads, [&](size_t i) -> Status {
    uint64_t begin = i * kStripe;
    if (begin + kStripe <= size &&
        next_data_segment(fd, begin, begin + kStripe).start >= begin + kStripe) {
      digests[i] = zero_stripe_digest();
      return {};
    }
    thread_local std::vector<std::byte> buf(1 << 20);
    Xxh3Hash hash;
    VMI_CHECK(read_range_sparse(fd, begin, std::min(size, begin + kStripe), what, kind, buf,
                                [&](std::span<const std::byte> data) { hash.update(data); }));
    digests[i] = hash.finish_raw();
    return {};
  }));
  Xxh3Hash top;
  for (const std::string& d : digests) top.update(d);
  return std::string(kFileChecksumAlgorithm) + ":" + top.finish_hex();
}

}  // namespace

void Xxh3Hash::Deleter::operator()(XXH3_state_s* s) const { XXH3_freeState(s); }

Xxh3Hash::Xxh3Hash() : state_(XXH3_createState()) {
  if (!state_) throw std::bad_alloc();
  XXH3_128bits_reset(state_.get());
}

Xxh3Hash::~Xxh3Hash() = default;

void Xxh3Hash::update(std::span<const std::byte> data) {
  XXH3_128bits_update(state_.get(), data.data(), data.size());
}

void Xxh3Hash::update(std::string_view data) {
  XXH3_128bits_update(state_.get(), data.data(), data.size());
}

std::string Xxh3Hash::finish_raw() {
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(state_.get()));
  XXH3_128bits_reset(state_.get());
  return std::string(reinterpret_cast<const char*>(canonical.digest), sizeof canonical.digest);
}

std::string Xxh3Hash::finish_hex() {
  std::string raw = finish_raw();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char byte : raw) {
    out += kHex[byte >> 4];
    out += kHex[byte & 15];
  }
  return out;
}

Result<std::string> file_checksum(int fd, const std::string& what, ErrorKind kind,
                                  std::string_view algorithm) {
  if (algorithm == kFileChecksumAlgorithm) return xxh3_128_striped(fd, what, kind);
  if (algorithm == "xxh3-128") return xxh3_128(fd, what, kind);
  if (algorithm == "sha256") {
    Sha256 hash;
    VMI_CHECK(read_file(fd, what, kind, [&](std::span<const std::byte> data) { hash.update(data); }));
    return hash.finish_digest();
  }
  return Error(kind, "unknown checksum algorithm \"" + std::string(algorithm) + "\" for " + what);
}

std::string_view checksum_algorithm(std::string_view checksum) {
  size_t colon = checksum.find(':');
  if (colon == std::string_view::npos) return {};
  std::string_view name = checksum.substr(0, colon);
  if (name == kFileChecksumAlgorithm || name == "xxh3-128" || name == "sha256") return name;
  return {};
}

}  // namespace vmimage::io
