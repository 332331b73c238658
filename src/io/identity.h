// Content-derived identity: UUIDs and seeds computed from what goes into an
// image (SHA-256 over length-prefixed parts), never from a clock or a random
// source, so the same input gives the same bytes. The text form of UUIDs too.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vmimage/result.h"

namespace vmimage::io {

using Uuid = std::array<uint8_t, 16>;

// SHA-256 of `purpose` and `parts`, each length-prefixed (distinct inputs
// cannot serialize alike); 32 raw bytes.
std::string derive_digest(std::string_view purpose, const std::vector<std::string>& parts);
// Its first 16 bytes marked as an RFC 9562 UUID (version 8: custom; variant 10).
Uuid derive_uuid(std::string_view purpose, const std::vector<std::string>& parts);
// The first 16 bytes of a digest, unmarked (seeds that are not UUIDs).
std::array<uint8_t, 16> derive16(std::string_view purpose, const std::vector<std::string>& parts);

// "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", lower-case hex.
std::string format_uuid(const Uuid& uuid);
// The canonical 8-4-4-4-12 hex form, either case. Errors are kUsage.
Result<Uuid> parse_uuid(std::string_view text);

}  // namespace vmimage::io
