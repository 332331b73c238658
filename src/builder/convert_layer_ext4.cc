// convert_layer_ext4: stream the tar into a spool, then write the ext4 image.
#include "builder/convert_layer_ext4.h"

#include "builder/convert_layer.h"
#include "io/sha256.h"
#include "tree/data_sink.h"
#include "util/file.h"

namespace vmimage::builder {
namespace {

// Lets a HashingReader (which owns its inner reader) read a borrowed one.
class BorrowedReader : public io::Reader {
 public:
  explicit BorrowedReader(io::Reader& inner) : inner_(inner) {}
  Result<size_t> read(std::span<std::byte> buf) override { return inner_.read(buf); }

 private:
  io::Reader& inner_;
};

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

  io::HashingReader hashing(std::make_unique<BorrowedReader>(tar_stream), input_name);
  VMI_TRY(StreamedLayer layer, stream_layer(hashing, input_name, sink, options.mtime, lower_context));

  ext4::Ext4Options ext4;
  ext4.size_bytes = options.size_bytes;
  ext4.extra_free_bytes = options.extra_free_bytes;
  ext4.label = options.label;
  ext4.uuid = options.uuid;
  Ext4ConvertResult result;
  VMI_TRY(result.image, ext4::write_ext4(layer.tree, sources, out_path, ext4));
  result.diff_id = hashing.digest();
  result.tree = std::move(layer.tree);
  result.context_used = layer.context_used;
  result.layer = layer.stats;
  result.tar_bytes = hashing.bytes();
  result.warnings = std::move(layer.warnings);
  return result;
}

}  // namespace vmimage::builder
