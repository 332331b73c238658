#include "builder/export.h"

#include "builder/merged_images.h"
#include "builder/squash.h"
#include "util/file.h"

namespace vmimage::builder {

Result<ext4::Ext4Stats> export_ext4(const std::vector<std::string>& lower_paths,
                                    const std::string& output, const ext4::Ext4Options& options) {
  tree::DataSources sources;
  VMI_TRY(MergedImages merged, merge_images(lower_paths, &sources));
  return ext4::write_ext4(merged.tree, sources, output, options);
}

Status export_erofs(const std::vector<std::string>& lower_paths, const std::string& output) {
  VMI_TRY(AtomicFile out, AtomicFile::create(output));
  VMI_CHECK(write_squashed(lower_paths, out.fd(), output, dirname_of(output),
                           PageCache::kDropBehind));
  return out.commit();
}

Result<ext4::Ext4Stats> ext4_twin(const std::string& erofs_path, const std::string& content_key,
                                  int fd, const std::string& path) {
  tree::DataSources sources;
  VMI_TRY(MergedImages image, read_image_file(erofs_path, &sources));
  LayerImageOptions defaults;
  defaults.fs_type = FsType::kExt4;
  ext4::Ext4Options options;
  options.uuid = layer_uuid(content_key, defaults, image.tree);
  return ext4::write_ext4_file(image.tree, sources, fd, path, options);
}

}  // namespace vmimage::builder
