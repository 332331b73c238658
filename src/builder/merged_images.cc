#include "builder/merged_images.h"

#include <cstring>

#include "fs/erofs/format.h"
#include "fs/erofs/reader.h"
#include "fs/ext4/reader.h"
#include "tree/merge.h"
#include "util/file.h"

namespace vmimage::builder {
namespace {

enum class ImageType { kErofs, kExt4, kOther };

// By magic: EROFS's at byte 1024, ext4's 56 bytes into the superblock at 1024.
ImageType image_type(int fd) {
  unsigned char sb[64] = {};
  if (!pread_exact(fd, std::as_writable_bytes(std::span(sb)), 1024, "image").ok()) {
    return ImageType::kOther;
  }
  uint32_t erofs_magic;
  std::memcpy(&erofs_magic, sb, 4);
  if (erofs_magic == erofs::kSuperMagic) return ImageType::kErofs;
  if (sb[56] == 0x53 && sb[57] == 0xEF) return ImageType::kExt4;
  return ImageType::kOther;
}

Result<tree::Tree> read_one(const std::string& path, int fd, tree::DataSources* sources) {
  switch (image_type(fd)) {
    case ImageType::kErofs: {
      uint32_t source = sources != nullptr ? sources->add(fd, path) : 0;
      return erofs::read_image(fd, source, path);
    }
    case ImageType::kExt4:
      if (sources != nullptr) {
        return Error(ErrorKind::kLayerFs,
                     path + " is ext4: its files cannot be copied (only an EROFS image can be)");
      }
      return ext4::read_tree(path);
    case ImageType::kOther:
      break;
  }
  return Error(ErrorKind::kLayerFs, path + " is neither an EROFS nor an ext4 image");
}

}  // namespace

Result<MergedImages> read_image_file(const std::string& path, tree::DataSources* sources) {
  MergedImages out;
  VMI_TRY(UniqueFd fd, open_read(path));
  Result<tree::Tree> tree = read_one(path, fd.get(), sources);
  if (!tree) return std::move(tree).error().context("reading layer image " + path);
  out.tree = std::move(*tree);
  out.files.push_back(std::move(fd));
  return out;
}

Result<MergedImages> merge_images(const std::vector<std::string>& paths,
                                  tree::DataSources* sources) {
  MergedImages out;
  for (const std::string& path : paths) {
    VMI_TRY(MergedImages layer, read_image_file(path, sources));
    VMI_CHECK(tree::apply_layer(out.tree, layer.tree));
    out.files.push_back(std::move(layer.files.front()));
  }
  return out;
}

}  // namespace vmimage::builder
