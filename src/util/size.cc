// Size parsing and formatting (see size.h).
#include "util/size.h"

#include <cctype>
#include <cstdio>
#include <limits>

namespace vmimage {
namespace {

constexpr std::string_view kUnits = "KMGTPE";

Error bad_size(std::string_view text, std::string_view why) {
  return Error(ErrorKind::kUsage,
               "invalid size \"" + std::string(text) + "\": " + std::string(why));
}

// The power of 1024 a unit stands for, or -1 for an unknown unit.
int unit_shift(std::string_view unit) {
  if (unit.empty()) return 0;
  if (unit == "B" || unit == "b") return 0;
  size_t index = kUnits.find(static_cast<char>(std::toupper(static_cast<unsigned char>(unit[0]))));
  if (index == std::string_view::npos) return -1;
  std::string_view rest = unit.substr(1);
  if (!rest.empty() && rest != "B" && rest != "b" && rest != "iB" && rest != "ib") return -1;
  return static_cast<int>(10 * (index + 1));
}

}  // namespace

Result<uint64_t> parse_size(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0) return bad_size(text, "expected a number of bytes, e.g. 512, 64K, 10G, 1T");
  uint64_t value = 0;
  for (size_t i = 0; i < digits; ++i) {
    uint64_t digit = static_cast<uint64_t>(text[i] - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10)
      return bad_size(text, "too large");
    value = value * 10 + digit;
  }
  int shift = unit_shift(text.substr(digits));
  if (shift < 0) return bad_size(text, "unknown unit (use K, M, G, T, P or E)");
  if (shift > 0 && value > (std::numeric_limits<uint64_t>::max() >> shift)) {
    return bad_size(text, "too large");
  }
  return value << shift;
}

std::string format_size(uint64_t bytes) {
  static constexpr const char* kNames[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  uint64_t whole = bytes;
  while (whole >= 1024 && unit < 6) {
    whole /= 1024;
    ++unit;
  }
  char buf[48];
  if (unit == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    double scaled = static_cast<double>(bytes) / static_cast<double>(uint64_t{1} << (10 * unit));
    std::snprintf(buf, sizeof buf, "%.1f %s", scaled, kNames[unit]);
  }
  return buf;
}

}  // namespace vmimage
