// Formatting for the store commands (see store_format.h).
#include "cli/store_format.h"

#include <algorithm>
#include <cstdio>

namespace vmimage::cli {

Result<Store> open_store(const GlobalOptions& global) {
  return Store::open(global.cache_dir);
}

std::string human_size(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  if (bytes < 1000) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1000 && unit + 1 < std::size(kUnits)) {
    value /= 1000;
    unit++;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf,
                value < 10    ? "%.2f %s"
                : value < 100 ? "%.1f %s"
                              : "%.0f %s",
                value, kUnits[unit]);
  return buf;
}

std::string relative_time(TimePoint t) {
  auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - t)
          .count();
  if (seconds < 0) return "in the future";
  if (seconds < 2) return "just now";
  struct Unit {
    int64_t seconds;
    const char* name;
  };
  static const Unit kUnits[] = {{365 * 86400, "year"}, {30 * 86400, "month"}, {7 * 86400, "week"},
                                {86400, "day"},        {3600, "hour"},        {60, "minute"},
                                {1, "second"}};
  for (const Unit& u : kUnits) {
    if (seconds >= u.seconds) {
      int64_t n = seconds / u.seconds;
      return std::to_string(n) + " " + u.name + (n == 1 ? "" : "s") + " ago";
    }
  }
  return "just now";
}

std::string short_digest(const std::string& digest) {
  auto colon = digest.find(':');
  std::string hex = colon == std::string::npos ? digest : digest.substr(colon + 1);
  return hex.substr(0, 12);
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
}

}  // namespace vmimage::cli
