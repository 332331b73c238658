// libext2fs stamps its own clock into s_wtime when it writes the superblocks;
// rewriting it afterwards keeps the wall clock out of vmimage's ext4 images.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vmimage/result.h"

namespace vmimage::ext4 {

// Rewrites s_wtime (and its checksum) in each superblock copy at `offsets` of
// the closed image open as `fd`, so the image carries `timestamp` only.
Status set_superblock_write_time(int fd, const std::vector<uint64_t>& offsets, int64_t timestamp,
                                 const std::string& what);

}  // namespace vmimage::ext4
