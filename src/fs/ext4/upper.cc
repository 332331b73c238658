// Overlay upper disks (see upper.h): a three-directory tree through the ext4
// writer with a journal, since this disk is mounted read-write.
#include "fs/ext4/upper.h"

#include <random>

#include "io/identity.h"
#include "tree/data_sink.h"
#include "tree/tree.h"

namespace vmimage::ext4 {

Result<std::optional<std::array<uint8_t, 16>>> parse_upper_uuid(std::string_view text) {
  using Uuid = std::optional<io::Uuid>;
  if (text.empty()) return Uuid{};
  if (text == "random") {
    std::random_device rd;
    io::Uuid bytes{};
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rd());
    bytes[6] = static_cast<uint8_t>((bytes[6] & 0x0f) | 0x40);  // version 4: random
    bytes[8] = static_cast<uint8_t>((bytes[8] & 0x3f) | 0x80);
    return Uuid{bytes};
  }
  VMI_TRY(io::Uuid uuid, io::parse_uuid(text));
  return Uuid{uuid};
}

Result<Ext4Stats> create_upper(const std::string& output_path, const UpperOptions& options) {
  if (options.size_bytes == 0) {
    return Error(ErrorKind::kUsage, "an upper disk needs a size");
  }
  tree::Tree tree;
  tree.inode(tree.root()).mtime_sec = options.timestamp;
  for (const char* name : {kUpperDir, kWorkDir}) {
    tree::Inode dir;
    dir.type = tree::FileType::kDirectory;
    dir.mode = 0755;
    dir.mtime_sec = options.timestamp;
    tree::InodeId id = tree.add(std::move(dir));
    tree.inode(tree.root()).children[name] = id;
  }
  Ext4Options ext4;
  ext4.size_bytes = options.size_bytes;
  ext4.label = options.label;
  // Known up front (there is no content to hash), which also keeps the
  // metadata_csum_seed feature off this read-write disk.
  ext4.uuid = options.uuid ? *options.uuid
                           : io::derive_uuid("vmimage upper uuid v1",
                                              {std::to_string(options.size_bytes), options.label,
                                               std::to_string(options.timestamp)});
  ext4.timestamp = options.timestamp;
  ext4.journal = true;
  ext4.lost_and_found = true;
  return write_ext4(tree, tree::DataSources{}, output_path, ext4);
}

}  // namespace vmimage::ext4
