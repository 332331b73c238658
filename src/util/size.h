// Byte sizes for humans: "512", "64K", "10G", "1T" (binary multiples, an
// optional "iB"/"B" suffix) parsed into bytes, and bytes printed back.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "vmimage/result.h"

namespace vmimage {

// Parses a size: decimal digits, then an optional unit K, M, G, T, P or E
// (case-insensitive, powers of 1024), optionally followed by "iB" or "B".
// Errors (kUsage) name the text: empty, no digits, unknown unit, overflow.
Result<uint64_t> parse_size(std::string_view text);

// "1.5 GiB", "64 KiB", "512 B": at most one decimal, for reports.
std::string format_size(uint64_t bytes);

}  // namespace vmimage
