#include "builder/layer_conversion.h"

#include "io/sha256.h"
#include "tar/tar_reader.h"

namespace vmimage::builder {

Result<std::unique_ptr<LayerConversion>> LayerConversion::create(int out_fd, std::string out_name,
                                                                 const std::string& scratch_dir) {
  std::unique_ptr<LayerConversion> c(new LayerConversion());
  VMI_TRY(c->writer_, erofs::ImageWriter::create(out_fd, out_name, scratch_dir));
  c->builder_ = std::make_unique<tree::LayerBuilder>(c->writer_->sink());
  c->name_ = std::move(out_name);
  return c;
}

Status LayerConversion::stream(io::Reader& tar, const std::string& name) {
  io::HashingReader hashing(std::make_unique<io::BorrowedReader>(tar), name);
  VMI_TRY(auto reader, tar::TarReader::open(hashing, name));
  while (true) {
    VMI_TRY(const tar::Entry* entry, reader->next());
    if (entry == nullptr) break;
    VMI_CHECK(builder_->add(*entry, *reader));
  }
  diff_id_ = hashing.digest();
  tar_bytes_ = hashing.bytes();
  return {};
}

Status LayerConversion::finish(const tree::Tree* lower) {
  VMI_TRY(tree_, builder_->finish(lower));
  context_sensitive_ = builder_->context_sensitive();
  VMI_CHECK(writer_->finish(tree_));
  builder_.reset();
  return {};
}

}  // namespace vmimage::builder
