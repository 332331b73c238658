// Public value types of vmimage: what a build produces (BuildResult), what the
// store records per image (ImageMeta, OCIConfig) and per blob (LayerRef).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vmimage/export.h"

namespace vmimage {

// The filesystem a blob holds.
enum class FsType { kErofs, kExt4 };
VMIMAGE_API std::string_view fs_type_name(FsType type);  // "erofs", "ext4"
VMIMAGE_API std::optional<FsType> parse_fs_type(std::string_view name);

// Which table of the store an image tag lives in: tags a user made (local) or
// the cache of registry pulls (registry). A tag is unique within a scope.
enum class Scope { kLocal, kRegistry };
VMIMAGE_API std::string_view scope_name(Scope scope);  // "local", "registry"
VMIMAGE_API std::optional<Scope> parse_scope(std::string_view name);

// How an image entered the store.
enum class ImageSource { kRegistry, kImport, kTag };
VMIMAGE_API std::string_view image_source_name(ImageSource source);  // "registry", "import", "tag"
VMIMAGE_API std::optional<ImageSource> parse_image_source(std::string_view name);

// A blob's dm-verity hash tree (docs/verity.md): format version 1, SHA-256,
// 4096-byte data and hash blocks. The filesystem fills [0, data_size); a
// veritysetup superblock sits at hash_offset and the tree follows it.
struct VerityInfo {
  std::string root_hash;  // 64 lower-case hex digits
  std::string salt;       // 64 lower-case hex digits
  uint64_t data_size = 0;
  uint64_t hash_offset = 0;
};
// What a launcher needs to open a blob through dm-verity, `device` being the
// block device that holds it (data and tree on the same device):
//   "0 SECTORS verity 1 DEVICE DEVICE 4096 4096 BLOCKS HASH_START sha256 ROOT SALT"
// (dmsetup create --table, and the table part of dm-mod.create=), and
//   "veritysetup open DEVICE NAME DEVICE ROOT --hash-offset=N".
VMIMAGE_API std::string verity_dm_table(const VerityInfo& verity, std::string_view device);
VMIMAGE_API std::string veritysetup_open_command(const VerityInfo& verity, std::string_view device,
                                                 std::string_view name);

// One blob of the store. `digest` is the blob's key: a layer's DiffID (or
// ChainID for chain-dependent lowers), or squashed_blob_key() for a squash.
// size and path are filled in by the store.
struct LayerRef {
  std::string digest;
  FsType fs_type = FsType::kErofs;
  uint64_t size = 0;
  std::string path;  // absolute
  std::optional<VerityInfo> verity;  // set when the blob carries a dm-verity tree
};

// The parts of an OCI image config a VM launcher needs.
struct OCIConfig {
  std::string user;
  std::string working_dir;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::map<std::string, std::string> env;  // "NAME=VALUE" entries, split
};

using TimePoint = std::chrono::system_clock::time_point;

struct ImageMeta {
  std::string tag;
  std::string digest;  // manifest digest
  uint64_t size = 0;   // bytes of the runtime lowers
  TimePoint created_at{};
  ImageSource source = ImageSource::kRegistry;
  OCIConfig oci;
  // The image config document as the source gave it, and the digest of the
  // index the manifest was chosen from ("" when none). Both "" for images
  // recorded before vmimage kept them (store schema 4).
  std::string config;
  std::string index_digest;
  // "os/arch[/variant]" of the index entry the manifest was chosen by: what
  // the image serves (the config may say less, e.g. no arm variant). "" when
  // not chosen from an index, or recorded before store schema 8.
  std::string platform;
};

struct ImageInfo {
  std::string tag;
  std::string rootfs_path;  // the first runtime lower
  ImageMeta meta;
  Scope scope = Scope::kLocal;
};

// A boot-ready image: the lowers to stack (base → top) and its config.
struct BuildResult {
  std::string rootfs_path;  // lower_paths[0]
  std::vector<std::string> lower_paths;
  std::vector<FsType> lower_fs_types;
  std::vector<LayerRef> layers;            // runtime lowers, base → top
  std::vector<LayerRef> canonical_layers;  // one per OCI layer, base → top
  std::string digest;                      // manifest digest
  std::vector<std::string> layer_digests;  // keys of `layers`, base → top
  uint64_t size = 0;
  bool cached = false;
  OCIConfig oci;
};

}  // namespace vmimage
