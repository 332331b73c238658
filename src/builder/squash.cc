#include "builder/squash.h"

#include "fs/erofs/reader.h"
#include "fs/erofs/writer.h"
#include "tree/merge.h"
#include "util/file.h"

namespace vmimage::builder {

Result<tree::Tree> merge_layer_images(const std::vector<std::string>& paths) {
  tree::Tree merged;
  for (const std::string& path : paths) {
    VMI_TRY(UniqueFd fd, open_read(path));
    Result<tree::Tree> layer = erofs::read_image(fd.get(), 0, path);
    if (!layer) return std::move(layer).error().context("reading layer " + path);
    VMI_CHECK(tree::apply_layer(merged, *layer));
  }
  return merged;
}

Result<std::vector<LayerFile>> open_layer_files(const std::vector<std::string>& paths) {
  std::vector<LayerFile> files;
  for (const std::string& path : paths) {
    VMI_TRY(UniqueFd fd, open_read(path));
    files.push_back(LayerFile{std::move(fd), path});
  }
  return files;
}

Status write_squashed(const std::vector<LayerFile>& layers, int out_fd,
                      const std::string& out_name, const std::string& scratch_dir,
                      PageCache page_cache) {
  erofs::Options options;
  options.page_cache = page_cache;
  VMI_TRY(auto writer, erofs::ImageWriter::create(out_fd, out_name, scratch_dir, options));
  tree::Tree merged;
  for (const LayerFile& layer_file : layers) {
    uint32_t source = writer->sources().add(layer_file.fd.get(), layer_file.name);
    Result<tree::Tree> layer = erofs::read_image(layer_file.fd.get(), source, layer_file.name);
    if (!layer) return std::move(layer).error().context("reading layer " + layer_file.name);
    VMI_CHECK(tree::apply_layer(merged, *layer));
  }
  return writer->finish(merged);
}

bool is_plain_tree(const tree::Tree& t) {
  for (tree::InodeId id : tree::reachable_inodes(t)) {
    const tree::Inode& node = t.inode(id);
    if (tree::is_whiteout(node)) return false;
    for (const tree::Xattr& x : node.xattrs) {
      if (x.name.starts_with("trusted.overlay.")) return false;
    }
  }
  return true;
}

}  // namespace vmimage::builder
