// LayerConverter: the passes, in order: open the writer (EROFS) or the spool
// (ext4), stream the tar through the layer builder into it, complete the tree
// against the layers below, derive the UUID, write the metadata (EROFS) or the
// whole image (ext4).
#include "builder/layer_converter.h"

#include "io/cancel.h"
#include "io/sha256.h"
#include "tar/tar_reader.h"
#include "tree/digest.h"
#include "util/file.h"

namespace vmimage::builder {

io::Uuid layer_uuid(const std::string& content_key, const LayerImageOptions& options,
                    const tree::Tree& tree) {
  return io::derive_uuid(
      "vmimage layer image v1",
      {content_key, std::string(fs_type_name(options.fs_type)), std::to_string(options.block_size),
       options.mtime ? std::to_string(*options.mtime) : "keep", options.label,
       std::to_string(options.size_bytes), std::to_string(options.extra_free_bytes),
       tree::metadata_digest(tree)});
}

LayerConverter::LayerConverter(int out_fd, std::string out_path, LayerImageOptions options)
    : out_fd_(out_fd), out_path_(std::move(out_path)), options_(std::move(options)) {}

LayerConverter::~LayerConverter() = default;

Result<std::unique_ptr<LayerConverter>> LayerConverter::create(int out_fd, std::string out_path,
                                                               const std::string& scratch_dir,
                                                               const LayerImageOptions& options) {
  std::unique_ptr<LayerConverter> c(new LayerConverter(out_fd, std::move(out_path), options));
  c->scratch_dir_ = scratch_dir;
  if (options.fs_type == FsType::kErofs) {
    erofs::Options o;
    o.block_size = options.block_size;
    o.volume_label = options.label;
    o.page_cache = options.page_cache;
    if (options.verity) {
      VMI_TRY(c->hasher_, verity::DataHasher::create(scratch_dir, *options.verity));
      o.verity = c->hasher_.get();
    }
    VMI_TRY(c->erofs_, erofs::ImageWriter::create(out_fd, c->out_path_, scratch_dir, o));
    return c;
  }
  if (options.block_size != 4096) {
    return Error(ErrorKind::kUsage,
                 "ext4 images use 4096-byte blocks, not " + std::to_string(options.block_size));
  }
  if (options.label.size() > 16) {
    return Error(ErrorKind::kUsage, "ext4 label \"" + options.label + "\" is longer than 16 bytes");
  }
  VMI_TRY(c->spool_, open_scratch_file(scratch_dir));
  std::string spool_name = "the spool file in " + scratch_dir;
  uint32_t source = c->spool_sources_.add(c->spool_.get(), spool_name);
  c->spool_sink_ = std::make_unique<tree::SpoolSink>(c->spool_.get(), source, spool_name);
  return c;
}

Status LayerConverter::stream(io::Reader& tar_stream, const std::string& name,
                              ImageBudget& budget, std::optional<std::string> verified_diff_id,
                              io::CancelFlag cancel) {
  io::CancellableReader tar(tar_stream, cancel);
  name_ = name;
  tree::LayerOptions layer_options = budget.layer_options(name);
  layer_options.mtime = options_.mtime;
  tree::FileDataSink& sink = erofs_ ? erofs_->sink() : *spool_sink_;
  builder_ = std::make_unique<tree::LayerBuilder>(sink, layer_options);
  std::optional<io::HashingReader> hashing;
  io::Reader* input = &tar;
  if (!verified_diff_id) {
    hashing.emplace(std::make_unique<io::BorrowedReader>(tar), name, std::nullopt, std::nullopt,
                    io::HashOn::kReadAhead);
    input = &*hashing;
  }
  VMI_TRY(auto reader, tar::TarReader::open(*input, name, budget.tar_options()));
  while (true) {
    VMI_TRY(const tar::Entry* entry, reader->next());
    if (entry == nullptr) break;
    VMI_CHECK(builder_->add(*entry, *reader));
  }
  // The tar reader drained its input, so a verifying stream has checked its digests.
  diff_id_ = verified_diff_id ? *verified_diff_id : hashing->digest();
  tar_bytes_ = reader->bytes_fed();
  warnings_ = reader->warnings();
  // Many layers may wait for phase 2 at once: keep no write buffers meanwhile.
  return erofs_ ? erofs_->end_stream() : Status();
}

Status LayerConverter::finish(const tree::Tree* lower) {
  if (!builder_) return Error(ErrorKind::kInternal, out_path_ + ": finished before it was streamed");
  VMI_TRY(tree_, builder_->finish(lower));
  context_sensitive_ = builder_->context_sensitive();
  context_used_ = builder_->context_used();
  layer_stats_ = builder_->stats();
  builder_.reset();
  uuid_ = options_.uuid ? *options_.uuid : layer_uuid(diff_id_, options_, tree_);
  if (!erofs_) return write_ext4();
  erofs_->set_uuid(uuid_);
  VMI_CHECK(erofs_->finish(tree_));
  erofs_stats_ = erofs_->stats();
  if (hasher_) {
    VMI_TRY(verity_, hasher_->append_tree(out_fd_, erofs_stats_.image_bytes, out_path_));
    hasher_.reset();
  }
  return {};
}

Status LayerConverter::write_ext4() {
  ext4::Ext4Options o;
  o.size_bytes = options_.size_bytes;
  o.extra_free_bytes = options_.extra_free_bytes;
  o.label = options_.label;
  o.uuid = uuid_;
  VMI_TRY(ext4_stats_, ext4::write_ext4_file(tree_, spool_sources_, out_fd_, out_path_, o));
  spool_sink_.reset();
  spool_.reset();
  if (options_.verity) {
    VMI_TRY(verity_, verity::append_tree_by_reading(out_fd_, out_path_, scratch_dir_,
                                                    *options_.verity));
  }
  return {};
}

}  // namespace vmimage::builder
