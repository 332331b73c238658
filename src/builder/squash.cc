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

Status write_squashed(const std::vector<std::string>& layer_paths, int out_fd,
                      const std::string& out_name, const std::string& scratch_dir) {
  VMI_TRY(auto writer, erofs::ImageWriter::create(out_fd, out_name, scratch_dir));
  std::vector<UniqueFd> fds;
  tree::Tree merged;
  for (const std::string& path : layer_paths) {
    VMI_TRY(UniqueFd fd, open_read(path));
    uint32_t source = writer->sources().add(fd.get(), path);
    Result<tree::Tree> layer = erofs::read_image(fd.get(), source, path);
    if (!layer) return std::move(layer).error().context("reading layer " + path);
    VMI_CHECK(tree::apply_layer(merged, *layer));
    fds.push_back(std::move(fd));
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
