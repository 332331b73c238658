#include "io/sha256.h"

namespace vmimage::io {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::update(std::span<const std::byte> data) {
  EVP_DigestUpdate(ctx_, data.data(), data.size());
}
void Sha256::update(std::string_view data) { EVP_DigestUpdate(ctx_, data.data(), data.size()); }

std::string Sha256::finish_digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, md, &len);
  EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr);
  static const char* kHex = "0123456789abcdef";
  std::string out = "sha256:";
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::string sha256_digest(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.finish_digest();
}

HashingReader::HashingReader(std::unique_ptr<Reader> inner, std::string what,
                             std::optional<std::string> expected_digest,
                             std::optional<uint64_t> expected_size)
    : inner_(std::move(inner)), what_(std::move(what)),
      expected_digest_(std::move(expected_digest)), expected_size_(expected_size) {}

Result<size_t> HashingReader::read(std::span<std::byte> buf) {
  VMI_TRY(size_t n, inner_->read(buf));
  if (n > 0) {
    hash_.update(buf.first(n));
    bytes_ += n;
    if (expected_size_ && bytes_ > *expected_size_) {
      return Error(ErrorKind::kImageDigest, what_ + ": more data than the expected " +
                                                std::to_string(*expected_size_) + " bytes");
    }
    return n;
  }
  if (digest_.empty()) {
    digest_ = hash_.finish_digest();
    if (expected_size_ && bytes_ != *expected_size_) {
      return Error(ErrorKind::kImageDigest, what_ + ": size mismatch: expected " +
                                                std::to_string(*expected_size_) + " bytes, got " +
                                                std::to_string(bytes_));
    }
    if (expected_digest_ && digest_ != *expected_digest_) {
      return Error(ErrorKind::kImageDigest, what_ + ": digest mismatch: expected " +
                                                *expected_digest_ + ", got " + digest_);
    }
  }
  return size_t{0};
}

}  // namespace vmimage::io
