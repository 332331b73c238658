#include "builder/squash.h"

#include "builder/merged_images.h"
#include "fs/erofs/writer.h"

namespace vmimage::builder {

Status write_squashed(const std::vector<std::string>& paths, int out_fd,
                      const std::string& out_name, const std::string& scratch_dir,
                      PageCache page_cache, const std::function<void()>& opened) {
  erofs::Options options;
  options.page_cache = page_cache;
  VMI_TRY(auto writer, erofs::ImageWriter::create(out_fd, out_name, scratch_dir, options));
  Result<MergedImages> merged = merge_images(paths, &writer->sources());
  if (opened) opened();  // also on failure: the caller waits for what it started
  if (!merged) return std::move(merged).error();
  return writer->finish(merged->tree);
}

}  // namespace vmimage::builder
