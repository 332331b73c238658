// Export: stored images flattened into one ext4 or EROFS (see export.h).
#include "builder/export.h"

#include <sys/stat.h>

#include "builder/merged_images.h"
#include "builder/squash.h"
#include "util/file.h"

namespace vmimage::builder {

namespace {

Result<ext4::Ext4Stats> export_ext4(const std::vector<std::string>& lower_paths, int fd,
                                    const std::string& path, const ext4::Ext4Options& options) {
  tree::DataSources sources;
  VMI_TRY(MergedImages merged, merge_images(lower_paths, &sources));
  return ext4::write_ext4_file(merged.tree, sources, fd, path, options);
}

Result<ext4::Ext4Stats> export_erofs(const std::vector<std::string>& lower_paths, int fd,
                                     const std::string& path, PageCache page_cache) {
  VMI_CHECK(write_squashed(lower_paths, fd, path, dirname_of(path), page_cache));
  struct stat st;
  if (::fstat(fd, &st) != 0) return sys_error(ErrorKind::kIo, "stat " + path);
  ext4::Ext4Stats stats;
  stats.size_bytes = static_cast<uint64_t>(st.st_size);
  return stats;
}

}  // namespace

Result<std::vector<std::string>> export_lowers(const BuildResult& image) {
  bool runtime_erofs = !image.lower_fs_types.empty();
  for (FsType t : image.lower_fs_types) runtime_erofs = runtime_erofs && t == FsType::kErofs;
  if (runtime_erofs) return image.lower_paths;
  std::vector<std::string> paths;
  for (const LayerRef& layer : image.canonical_layers) {
    if (layer.fs_type != FsType::kErofs) {
      return Error(ErrorKind::kStoreRead, "the image has no EROFS blobs to export from (" +
                                              layer.digest + " is " +
                                              std::string(fs_type_name(layer.fs_type)) + ")");
    }
    paths.push_back(layer.path);
  }
  if (paths.empty()) return Error(ErrorKind::kStoreRead, "the image records no layers");
  return paths;
}

Result<ExportResult> export_image(const BuildResult& image, const std::string& output,
                                  const ExportOptions& options) {
  VMI_TRY(std::vector<std::string> lowers, export_lowers(image));
  VMI_TRY(AtomicFile out, AtomicFile::create(output));
  ExportResult result;
  if (options.type == FsType::kErofs) {
    // Read back for the tree: keep what was just written in the page cache.
    PageCache cache = options.verity ? PageCache::kKeep : PageCache::kDropBehind;
    VMI_TRY(result.stats, export_erofs(lowers, out.fd(), out.temp_path(), cache));
  } else {
    ext4::Ext4Options ext4_options;
    ext4_options.size_bytes = options.size_bytes;
    ext4_options.extra_free_bytes = options.extra_free_bytes;
    ext4_options.journal = true;  // a writable root disk
    Result<ext4::Ext4Stats> stats = export_ext4(lowers, out.fd(), out.temp_path(), ext4_options);
    if (!stats) return std::move(stats).error().context("writing " + output);
    result.stats = *stats;
  }
  if (options.verity) {
    VMI_TRY(result.verity, verity::append_tree_by_reading(out.fd(), output, dirname_of(output),
                                                          *options.verity));
  }
  VMI_CHECK(out.commit());
  return result;
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
