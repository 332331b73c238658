// Writable upper disks for overlayfs: an empty, sparse ext4 holding the
// directories overlayfs wants for upperdir and workdir, created in well under
// a second for any size because only metadata is written (inode tables and
// journal blocks stay unwritten holes of the fresh file).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fs/ext4/writer.h"
#include "vmimage/result.h"

namespace vmimage::ext4 {

constexpr const char* kUpperDir = "upper";
constexpr const char* kWorkDir = "work";

struct UpperOptions {
  uint64_t size_bytes = 0;  // required
  std::string label;
  // By default derived from the size, label and timestamp (so equal options
  // give equal bytes): pass one per disk when several uppers may be attached
  // to the same machine.
  std::optional<std::array<uint8_t, 16>> uuid;
  int64_t timestamp = 0;
};

// An upper disk's UUID as a user gives it: "" (derived), "random" (version 4)
// or a UUID's text.
Result<std::optional<std::array<uint8_t, 16>>> parse_upper_uuid(std::string_view text);

// Creates OUTPUT: ext4 with a journal, /lost+found, and /upper and /work
// (0755 root:root), every remaining byte free for the overlay's writes.
Result<Ext4Stats> create_upper(const std::string& output_path, const UpperOptions& options);

}  // namespace vmimage::ext4
