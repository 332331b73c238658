// Names of the public enums (vmimage/types.h), as stored in metadata and printed.
#include "vmimage/store.h"
#include "vmimage/types.h"

namespace vmimage {

std::string_view fs_type_name(FsType type) {
  switch (type) {
    case FsType::kErofs:
      return "erofs";
    case FsType::kExt4:
      return "ext4";
  }
  return "unknown";
}

std::optional<FsType> parse_fs_type(std::string_view name) {
  if (name == "erofs") return FsType::kErofs;
  if (name == "ext4") return FsType::kExt4;
  return std::nullopt;
}

std::string_view blob_origin_name(BlobOrigin origin) {
  return origin == BlobOrigin::kPulled ? "pulled" : "converted";
}

std::string_view scope_name(Scope scope) {
  switch (scope) {
    case Scope::kLocal:
      return "local";
    case Scope::kRegistry:
      return "registry";
  }
  return "unknown";
}

std::optional<Scope> parse_scope(std::string_view name) {
  if (name == "local") return Scope::kLocal;
  if (name == "registry") return Scope::kRegistry;
  return std::nullopt;
}

std::string_view image_source_name(ImageSource source) {
  switch (source) {
    case ImageSource::kRegistry:
      return "registry";
    case ImageSource::kImport:
      return "import";
    case ImageSource::kTag:
      return "tag";
  }
  return "unknown";
}

std::optional<ImageSource> parse_image_source(std::string_view name) {
  if (name == "registry") return ImageSource::kRegistry;
  if (name == "import") return ImageSource::kImport;
  if (name == "tag") return ImageSource::kTag;
  return std::nullopt;
}

}  // namespace vmimage

namespace vmimage {

std::string verity_dm_table(const VerityInfo& v, std::string_view device) {
  std::string dev(device);
  return "0 " + std::to_string(v.data_size / 512) + " verity 1 " + dev + " " + dev +
         " 4096 4096 " + std::to_string(v.data_size / 4096) + " " +
         std::to_string(v.hash_offset / 4096 + 1) + " sha256 " + v.root_hash + " " + v.salt;
}

std::string veritysetup_open_command(const VerityInfo& v, std::string_view device,
                                     std::string_view name) {
  std::string dev(device);
  return "veritysetup open " + dev + " " + std::string(name) + " " + dev + " " + v.root_hash +
         " --hash-offset=" + std::to_string(v.hash_offset);
}

}  // namespace vmimage
