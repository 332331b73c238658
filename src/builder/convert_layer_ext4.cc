// convert_layer_ext4: stream the tar into a spool, then write the ext4 image.
#include "builder/convert_layer_ext4.h"

#include "builder/convert_layer.h"
#include "fs/ext4/identity.h"
#include "io/sha256.h"
#include "tree/data_sink.h"
#include "util/file.h"

namespace vmimage::builder {
namespace {

// Without a given UUID: one derived from the layer's DiffID (its content), the
// resulting tree (which the lower context can change) and the options, so
// equal inputs give byte-identical images without hashing the data again.
std::array<uint8_t, 16> derive_uuid(const std::string& diff_id, const tree::Tree& layer,
                                    const Ext4ConvertOptions& options) {
  std::string settings = (options.mtime ? std::to_string(*options.mtime) : "keep") + "/" +
                         std::to_string(options.size_bytes) + "/" +
                         std::to_string(options.extra_free_bytes) + "/" + options.label;
  return ext4::as_uuid(ext4::derive16(
      "vmimage mkfs ext4 uuid v1",
      {diff_id, ext4::tree_metadata_digest(layer, tree::reachable_inodes(layer)), settings}));
}

}  // namespace

Result<Ext4ConvertResult> convert_layer_ext4(io::Reader& tar_stream, const std::string& input_name,
                                             const std::string& out_path,
                                             const Ext4ConvertOptions& options,
                                             const tree::Tree* lower_context) {
  std::string scratch = options.scratch_dir.empty() ? dirname_of(out_path) : options.scratch_dir;
  VMI_TRY(UniqueFd spool, open_scratch_file(scratch));
  tree::DataSources sources;
  std::string spool_name = "the spool file in " + scratch;
  uint32_t source = sources.add(spool.get(), spool_name);
  tree::SpoolSink sink(spool.get(), source, spool_name);

  io::HashingReader hashing(std::make_unique<io::BorrowedReader>(tar_stream), input_name,
                            std::nullopt, std::nullopt, io::HashOn::kReadAhead);
  ImageBudget budget(options.limits);
  VMI_TRY(StreamedLayer layer,
          stream_layer(hashing, input_name, sink, options.mtime, lower_context, budget));

  ext4::Ext4Options ext4;
  ext4.size_bytes = options.size_bytes;
  ext4.extra_free_bytes = options.extra_free_bytes;
  ext4.label = options.label;
  Ext4ConvertResult result;
  result.diff_id = hashing.digest();
  ext4.uuid = options.uuid ? *options.uuid : derive_uuid(result.diff_id, layer.tree, options);
  VMI_TRY(result.image, ext4::write_ext4(layer.tree, sources, out_path, ext4));
  result.tree = std::move(layer.tree);
  result.context_used = layer.context_used;
  result.layer = layer.stats;
  result.tar_bytes = hashing.bytes();
  result.warnings = std::move(layer.warnings);
  return result;
}

}  // namespace vmimage::builder
