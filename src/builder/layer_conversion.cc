#include "builder/layer_conversion.h"

#include "io/sha256.h"
#include "tar/tar_reader.h"

namespace vmimage::builder {

Result<std::unique_ptr<LayerConversion>> LayerConversion::create(int out_fd, std::string out_name,
                                                                 const std::string& scratch_dir) {
  std::unique_ptr<LayerConversion> c(new LayerConversion());
  VMI_TRY(c->writer_, erofs::ImageWriter::create(out_fd, out_name, scratch_dir));
  c->name_ = std::move(out_name);
  return c;
}

Status LayerConversion::stream(io::Reader& tar, const std::string& name, ImageBudget& budget,
                               std::optional<std::string> verified_diff_id) {
  builder_ = std::make_unique<tree::LayerBuilder>(writer_->sink(), budget.layer_options(name));
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
  // Many layers may wait for phase 2 at once: keep no write buffers meanwhile.
  return writer_->end_stream();
}

Status LayerConversion::finish(const tree::Tree* lower) {
  if (!builder_) return Error(ErrorKind::kInternal, name_ + ": finished before it was streamed");
  VMI_TRY(tree_, builder_->finish(lower));
  context_sensitive_ = builder_->context_sensitive();
  VMI_CHECK(writer_->finish(tree_));
  builder_.reset();
  return {};
}

}  // namespace vmimage::builder
