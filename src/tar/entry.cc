// Path normalization and naming helpers for tar entries.
#include "tar/entry.h"

#include <cstdio>

namespace vmimage::tar {

std::string_view entry_type_name(EntryType type) {
  switch (type) {
    case EntryType::kRegular:
      return "regular file";
    case EntryType::kDirectory:
      return "directory";
    case EntryType::kSymlink:
      return "symlink";
    case EntryType::kHardlink:
      return "hardlink";
    case EntryType::kCharDevice:
      return "character device";
    case EntryType::kBlockDevice:
      return "block device";
    case EntryType::kFifo:
      return "fifo";
    case EntryType::kSocket:
      return "socket";
  }
  return "unknown";
}

Result<std::string> normalize_path(std::string_view raw, const PathLimits& limits) {
  // ".//" and "./" spellings may make the raw text longer than the result, but
  // not past twice the limit plus a leading "/" without being absurd.
  if (raw.size() / 2 > limits.max_bytes) {
    return Error(ErrorKind::kTarball, "path of " + std::to_string(raw.size()) +
                                          " bytes is longer than " +
                                          std::to_string(limits.max_bytes) +
                                          " (limit max-path-bytes)");
  }
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (pos <= raw.size()) {
    size_t slash = raw.find('/', pos);
    if (slash == std::string_view::npos) slash = raw.size();
    std::string_view part = raw.substr(pos, slash - pos);
    pos = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      // Lexical resolution is safe here: the tree never follows symlinks.
      if (parts.empty()) {
        return Error(ErrorKind::kTarball, "path " + quote_path(raw) + " leaves the root");
      }
      parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  if (parts.size() > limits.max_depth) {
    return Error(ErrorKind::kTarball, "path " + quote_path(raw.substr(0, 64)) + "... is " +
                                          std::to_string(parts.size()) +
                                          " levels deep, more than " +
                                          std::to_string(limits.max_depth) +
                                          " (limit max-path-depth)");
  }
  std::string out;
  for (std::string_view part : parts) {
    if (!out.empty()) out += '/';
    out += part;
  }
  if (out.size() > limits.max_bytes) {
    return Error(ErrorKind::kTarball, "path " + quote_path(out.substr(0, 64)) + "... is " +
                                          std::to_string(out.size()) + " bytes long, more than " +
                                          std::to_string(limits.max_bytes) +
                                          " (limit max-path-bytes)");
  }
  return out;
}

std::string quote_path(std::string_view path) {
  // A hostile path may be a megabyte long: messages show its ends.
  constexpr size_t kHead = 160, kTail = 80;
  if (path.size() > 320) {
    return quote_path(path.substr(0, kHead)) + "..." + std::to_string(path.size()) +
           " bytes..." + quote_path(path.substr(path.size() - kTail));
  }
  std::string out = "'";
  for (char c : path) {
    auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && byte < 0x7f && c != '\\' && c != '\'') {
      out += c;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", byte);
      out += hex;
    }
  }
  out += "'";
  return out;
}

}  // namespace vmimage::tar
