// Parsing of the --layout policy (vmimage/builder.h).
#include <charconv>

#include "vmimage/builder.h"

namespace vmimage {

Result<LowerLayout> parse_layout(std::string_view text) {
  if (text == "squashed") return LowerLayout{LowerLayout::Kind::kSquashed, 0};
  if (text == "layered") return LowerLayout{LowerLayout::Kind::kLayered, 0};
  if (text.starts_with("auto:")) {
    std::string_view digits = text.substr(5);
    uint32_t n = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec == std::errc() && end == digits.data() + digits.size() && n >= 1) {
      return LowerLayout{LowerLayout::Kind::kAuto, n};
    }
  }
  return Error(ErrorKind::kUsage, "layout '" + std::string(text) +
                                      "': expected squashed, layered or auto:N with N >= 1");
}

std::string layout_name(const LowerLayout& layout) {
  switch (layout.kind) {
    case LowerLayout::Kind::kSquashed: return "squashed";
    case LowerLayout::Kind::kLayered: return "layered";
    case LowerLayout::Kind::kAuto: return "auto:" + std::to_string(layout.max_lowers);
  }
  return "squashed";
}

}  // namespace vmimage
