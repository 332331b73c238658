#include "util/text.h"

#include "util/utf8.h"

namespace vmimage {

std::string join_some(const std::vector<std::string>& items, size_t shown,
                      std::string_view separator) {
  constexpr size_t kMaxItem = 128;
  std::string out;
  for (size_t i = 0; i < items.size() && i < shown; ++i) {
    if (i > 0) out += separator;
    std::string item = escape_non_utf8(items[i].substr(0, kMaxItem));
    out += items[i].size() > kMaxItem ? item + "..." : item;
  }
  if (items.size() > shown) out += " and " + std::to_string(items.size() - shown) + " more";
  return out;
}

}  // namespace vmimage
