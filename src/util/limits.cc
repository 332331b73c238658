// The limits table (see vmimage/limits.h): one row per limit, so setting,
// printing and documenting them cannot drift apart.
#include "vmimage/limits.h"

#include <charconv>
#include <variant>

#include "util/size.h"

namespace vmimage {
namespace {

enum class Unit { kBytes, kCount, kSeconds };

struct Row {
  const char* name;
  Unit unit;
  std::variant<uint64_t Limits::*, std::chrono::seconds Limits::*> field;
  const char* description;
};

const Row kRows[] = {
    {"max-path-bytes", Unit::kBytes, &Limits::max_path_bytes,
     "longest path inside a layer (normalized)"},
    {"max-path-depth", Unit::kCount, &Limits::max_path_depth,
     "most directory levels of a path inside a layer"},
    {"max-layer-entries", Unit::kCount, &Limits::max_layer_entries, "tar entries of one layer"},
    {"max-layer-bytes", Unit::kBytes, &Limits::max_layer_bytes,
     "uncompressed size of one layer's tar"},
    {"max-trailing-bytes", Unit::kBytes, &Limits::max_trailing_bytes,
     "bytes after a tar's end-of-archive marker"},
    {"max-layers", Unit::kCount, &Limits::max_layers, "layers of one image"},
    {"max-image-entries", Unit::kCount, &Limits::max_image_entries,
     "tar entries of all layers of one image"},
    {"max-image-bytes", Unit::kBytes, &Limits::max_image_bytes,
     "uncompressed size of all layers of one image"},
    {"max-archive-blobs", Unit::kCount, &Limits::max_archive_blobs,
     "layer blobs one image archive may hold, all its images together"},
    {"max-manifest-bytes", Unit::kBytes, &Limits::max_manifest_bytes,
     "a manifest or index (registry, archive)"},
    {"max-config-bytes", Unit::kBytes, &Limits::max_config_bytes, "an image config"},
    {"stall-timeout", Unit::kSeconds, &Limits::stall_timeout,
     "a registry transfer sending nothing for this long is dropped"},
    {"min-rate", Unit::kBytes, &Limits::min_rate,
     "bytes per second a registry transfer must average over rate-window (0: no minimum)"},
    {"rate-window", Unit::kSeconds, &Limits::rate_window, "the window min-rate is measured over"},
    {"document-timeout", Unit::kSeconds, &Limits::document_timeout,
     "fetching one manifest, config or token, retries included"},
    {"max-redirects", Unit::kCount, &Limits::max_redirects, "HTTP redirects followed per request"},
    {"max-retries", Unit::kCount, &Limits::max_retries,
     "further attempts of a failed registry request"},
};

Error bad_value(std::string_view name, std::string_view value, std::string_view why) {
  return Error(ErrorKind::kUsage, "limit " + std::string(name) + ": invalid value \"" +
                                      std::string(value) + "\": " + std::string(why));
}

Result<uint64_t> parse_count(std::string_view name, std::string_view text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return bad_value(name, text, "expected a whole number");
  }
  return v;
}

Result<std::chrono::seconds> parse_seconds(std::string_view name, std::string_view text) {
  uint64_t scale = 1;
  std::string_view digits = text;
  if (!text.empty()) {
    char unit = text.back();
    if (unit == 's' || unit == 'm' || unit == 'h') {
      scale = unit == 's' ? 1 : unit == 'm' ? 60 : 3600;
      digits.remove_suffix(1);
    }
  }
  Result<uint64_t> n = parse_count(name, digits);
  if (!n) return bad_value(name, text, "expected a duration such as 30s, 5m or 1h");
  if (*n > uint64_t{1} << 31) return bad_value(name, text, "too long");
  return std::chrono::seconds(static_cast<int64_t>(*n * scale));
}

std::string format_bytes(uint64_t v) {
  static const char kUnits[] = "KMGTPE";
  int unit = -1;
  while (v != 0 && v % 1024 == 0 && unit < 5) {
    v /= 1024;
    ++unit;
  }
  return std::to_string(v) + (unit >= 0 ? std::string(1, kUnits[unit]) : "");
}

const Row* find_row(std::string_view name) {
  for (const Row& row : kRows) {
    if (name == row.name) return &row;
  }
  return nullptr;
}

}  // namespace

Status set_limit(Limits& limits, std::string_view name, std::string_view value) {
  const Row* row = find_row(name);
  if (row == nullptr) {
    std::string known;
    for (const Row& r : kRows) known += (known.empty() ? "" : ", ") + std::string(r.name);
    return Error(ErrorKind::kUsage,
                 "unknown limit \"" + std::string(name) + "\" (known: " + known + ")");
  }
  if (auto* seconds = std::get_if<std::chrono::seconds Limits::*>(&row->field)) {
    VMI_TRY(limits.*(*seconds), parse_seconds(name, value));
    return {};
  }
  auto field = std::get<uint64_t Limits::*>(row->field);
  if (row->unit == Unit::kBytes) {
    Result<uint64_t> bytes = parse_size(value);
    if (!bytes) return bad_value(name, value, "expected a size such as 512, 64K, 10G");
    limits.*field = *bytes;
  } else {
    VMI_TRY(limits.*field, parse_count(name, value));
  }
  return {};
}

Status apply_limits(Limits& limits, std::string_view assignments) {
  size_t start = 0;
  while (start <= assignments.size()) {
    size_t end = assignments.find(',', start);
    if (end == std::string_view::npos) end = assignments.size();
    std::string_view item = assignments.substr(start, end - start);
    start = end + 1;
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) continue;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return Error(ErrorKind::kUsage,
                   "limit \"" + std::string(item) + "\": expected NAME=VALUE, e.g. max-layers=100");
    }
    VMI_CHECK(set_limit(limits, item.substr(0, eq), item.substr(eq + 1)));
  }
  return {};
}

std::vector<LimitInfo> describe_limits(const Limits& limits) {
  std::vector<LimitInfo> out;
  for (const Row& row : kRows) {
    std::string value;
    if (auto* seconds = std::get_if<std::chrono::seconds Limits::*>(&row.field)) {
      value = std::to_string((limits.*(*seconds)).count()) + "s";
    } else {
      uint64_t v = limits.*std::get<uint64_t Limits::*>(row.field);
      value = row.unit == Unit::kBytes ? format_bytes(v) : std::to_string(v);
    }
    out.push_back(LimitInfo{row.name, value, row.description});
  }
  return out;
}

}  // namespace vmimage
