// Content digests as the OCI image spec defines them (descriptor.md#digests):
// "algorithm:encoded". vmimage verifies sha256 only, so only sha256 is accepted.
#pragma once

#include <compare>
#include <string>
#include <string_view>

#include "vmimage/result.h"

namespace vmimage::oci {

class Digest {
 public:
  Digest() = default;

  // Accepts "sha256:<64 lower-case hex>"; anything else is an error of `kind`
  // whose message says what is wrong with `text`.
  static Result<Digest> parse(std::string_view text, ErrorKind kind = ErrorKind::kPullImage);
  // The sha256 digest of `data`.
  static Digest of(std::string_view data);

  const std::string& str() const { return value_; }
  std::string_view algorithm() const;
  std::string_view hex() const;
  bool empty() const { return value_.empty(); }

  friend bool operator==(const Digest&, const Digest&) = default;
  friend auto operator<=>(const Digest&, const Digest&) = default;

 private:
  explicit Digest(std::string value) : value_(std::move(value)) {}
  std::string value_;
};

// Why `text` is not a digest vmimage accepts, or an empty string when it is one.
std::string digest_syntax_problem(std::string_view text);

}  // namespace vmimage::oci
