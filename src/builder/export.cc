#include "builder/export.h"

#include "builder/squash.h"
#include "fs/erofs/reader.h"
#include "tree/merge.h"
#include "util/file.h"

namespace vmimage::builder {

Result<ext4::Ext4Stats> export_ext4(const std::vector<std::string>& lower_paths,
                                    const std::string& output, const ext4::Ext4Options& options) {
  tree::DataSources sources;
  std::vector<UniqueFd> fds;
  tree::Tree merged;
  for (const std::string& path : lower_paths) {
    VMI_TRY(UniqueFd fd, open_read(path));
    uint32_t source = sources.add(fd.get(), path);
    Result<tree::Tree> layer = erofs::read_image(fd.get(), source, path);
    if (!layer) return std::move(layer).error().context("reading lower " + path);
    VMI_CHECK(tree::apply_layer(merged, *layer));
    fds.push_back(std::move(fd));
  }
  return ext4::write_ext4(merged, sources, output, options);
}

Result<ext4::Ext4Stats> erofs_to_ext4(const std::string& erofs_path, const std::string& output,
                                      const ext4::Ext4Options& options) {
  tree::DataSources sources;
  VMI_TRY(UniqueFd fd, open_read(erofs_path));
  uint32_t source = sources.add(fd.get(), erofs_path);
  Result<tree::Tree> layer = erofs::read_image(fd.get(), source, erofs_path);
  if (!layer) return std::move(layer).error().context("reading " + erofs_path);
  return ext4::write_ext4(*layer, sources, output, options);
}

Status export_erofs(const std::vector<std::string>& lower_paths, const std::string& output) {
  VMI_TRY(AtomicFile out, AtomicFile::create(output));
  VMI_TRY(std::vector<LayerFile> lowers, open_layer_files(lower_paths));
  VMI_CHECK(write_squashed(lowers, out.fd(), output, dirname_of(output), PageCache::kDropBehind));
  return out.commit();
}

}  // namespace vmimage::builder
