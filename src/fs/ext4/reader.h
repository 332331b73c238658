// Reads an ext4 image's tree of metadata through libext2fs (no mount): types,
// modes, owners, times, device numbers, symlink targets, xattrs, sizes and
// names. File data is not read: the tree serves as the layers below a layer
// (`mkfs --type ext4 --lower`), where only paths and metadata matter.
#pragma once

#include <string>

#include "tree/tree.h"
#include "vmimage/result.h"

namespace vmimage::ext4 {

// Breadth-first with a queue (a deep image costs no stack); a directory with
// two names is an error. Regular files get their size and no data extents.
Result<tree::Tree> read_tree(const std::string& path);

}  // namespace vmimage::ext4
