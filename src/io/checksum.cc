#include "io/checksum.h"

#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <new>
#include <vector>

#include "io/sha256.h"

namespace vmimage::io {
namespace {

// Feeds the file to `update` in 1 MiB reads.
template <typename Update>
Status read_file(int fd, const std::string& what, ErrorKind kind, Update update) {
  std::vector<std::byte> buf(1 << 20);
  for (uint64_t offset = 0;;) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error(kind, "reading " + what + " at offset " + std::to_string(offset));
    if (n == 0) return {};
    update(std::span<const std::byte>(buf.data(), static_cast<size_t>(n)));
    offset += static_cast<uint64_t>(n);
  }
}

Result<std::string> xxh3_128(int fd, const std::string& what, ErrorKind kind) {
  Xxh3_128 hash;
  VMI_CHECK(read_file(fd, what, kind, [&](std::span<const std::byte> data) { hash.update(data); }));
  return std::string(kFileChecksumAlgorithm) + ":" + hash.finish_hex();
}

}  // namespace

void Xxh3_128::Deleter::operator()(XXH3_state_s* s) const { XXH3_freeState(s); }

Xxh3_128::Xxh3_128() : state_(XXH3_createState()) {
  if (!state_) throw std::bad_alloc();
  XXH3_128bits_reset(state_.get());
}

Xxh3_128::~Xxh3_128() = default;

void Xxh3_128::update(std::span<const std::byte> data) {
  XXH3_128bits_update(state_.get(), data.data(), data.size());
}

void Xxh3_128::update(std::string_view data) {
  XXH3_128bits_update(state_.get(), data.data(), data.size());
}

std::string Xxh3_128::finish_raw() {
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(state_.get()));
  XXH3_128bits_reset(state_.get());
  return std::string(reinterpret_cast<const char*>(canonical.digest), sizeof canonical.digest);
}

std::string Xxh3_128::finish_hex() {
  std::string raw = finish_raw();
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char byte : raw) {
    out += kHex[byte >> 4];
    out += kHex[byte & 15];
  }
  return out;
}

Result<std::string> file_checksum(int fd, const std::string& what, ErrorKind kind,
                                  std::string_view algorithm) {
  if (algorithm == kFileChecksumAlgorithm) return xxh3_128(fd, what, kind);
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
  if (name == kFileChecksumAlgorithm || name == "sha256") return name;
  return {};
}

}  // namespace vmimage::io
