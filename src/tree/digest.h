// A canonical digest of a tree's metadata and shape (not file contents): what
// an image's identity is derived from besides its data.
#pragma once

#include <string>

#include "tree/tree.h"

namespace vmimage::tree {

// SHA-256 (32 raw bytes) over every reachable inode in reachable_inodes order:
// type, mode, owner, times, device, symlink target, xattrs, file size and
// directory entries (children named by their position in that order, so the
// digest does not depend on how the tree was built). Fixed-width little-endian
// integers and length-prefixed strings: distinct trees cannot serialize alike.
std::string metadata_digest(const Tree& tree);

}  // namespace vmimage::tree
