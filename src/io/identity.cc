#include "io/identity.h"

#include <cstring>

#include "io/sha256.h"

namespace vmimage::io {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void feed(Sha256& hash, std::string_view s) {
  uint64_t n = s.size();
  unsigned char len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(n >> (8 * i));
  hash.update(std::string_view(reinterpret_cast<const char*>(len), 8));
  hash.update(s);
}

}  // namespace

std::string derive_digest(std::string_view purpose, const std::vector<std::string>& parts) {
  Sha256 hash;
  feed(hash, purpose);
  for (const std::string& p : parts) feed(hash, p);
  return hash.finish_raw();
}

std::array<uint8_t, 16> derive16(std::string_view purpose, const std::vector<std::string>& parts) {
  std::string raw = derive_digest(purpose, parts);
  std::array<uint8_t, 16> out{};
  std::memcpy(out.data(), raw.data(), out.size());
  return out;
}

Uuid derive_uuid(std::string_view purpose, const std::vector<std::string>& parts) {
  Uuid u = derive16(purpose, parts);
  u[6] = static_cast<uint8_t>((u[6] & 0x0f) | 0x80);
  u[8] = static_cast<uint8_t>((u[8] & 0x3f) | 0x80);
  return u;
}

std::string format_uuid(const Uuid& uuid) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < uuid.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[uuid[i] >> 4];
    out += kHex[uuid[i] & 15];
  }
  return out;
}

Result<Uuid> parse_uuid(std::string_view text) {
  Error bad(ErrorKind::kUsage, "invalid UUID \"" + std::string(text.substr(0, 64)) +
                                   "\": expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
  if (text.size() != 36) return bad;
  Uuid out{};
  size_t nibble = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return bad;
      continue;
    }
    int v = hex_value(text[i]);
    if (v < 0) return bad;
    out[nibble / 2] = static_cast<uint8_t>(out[nibble / 2] | (nibble % 2 == 0 ? v << 4 : v));
    ++nibble;
  }
  return out;
}

}  // namespace vmimage::io
