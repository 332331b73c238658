// Digest parsing per the OCI image spec grammar (descriptor.md#digests).
#include "oci/digest.h"

#include "io/sha256.h"

namespace vmimage::oci {
namespace {

bool is_lower_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool is_algorithm_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '.' || c == '_' ||
         c == '-';
}

}  // namespace

std::string digest_syntax_problem(std::string_view text) {
  size_t colon = text.find(':');
  if (colon == std::string_view::npos) return "missing ':' between algorithm and hex";
  std::string_view algorithm = text.substr(0, colon);
  std::string_view encoded = text.substr(colon + 1);
  if (algorithm.empty()) return "empty digest algorithm";
  for (char c : algorithm) {
    if (!is_algorithm_char(c)) return "invalid character in digest algorithm";
  }
  if (algorithm != "sha256") {
    return "unsupported digest algorithm \"" + std::string(algorithm) + "\" (only sha256)";
  }
  if (encoded.size() != 64) {
    return "sha256 digest must have 64 hex characters, not " + std::to_string(encoded.size());
  }
  for (char c : encoded) {
    if (!is_lower_hex(c)) return "sha256 digest must be lower-case hex";
  }
  return {};
}

Result<Digest> Digest::parse(std::string_view text, ErrorKind kind) {
  std::string problem = digest_syntax_problem(text);
  if (!problem.empty()) {
    return Error(kind, "invalid digest \"" + std::string(text) + "\": " + problem);
  }
  return Digest(std::string(text));
}

Digest Digest::of(std::string_view data) {
  return Digest(io::sha256_digest(data));
}

std::string_view Digest::algorithm() const {
  std::string_view v = value_;
  return v.substr(0, v.find(':'));
}

std::string_view Digest::hex() const {
  std::string_view v = value_;
  size_t colon = v.find(':');
  return colon == std::string_view::npos ? std::string_view() : v.substr(colon + 1);
}

}  // namespace vmimage::oci
