// Decompression plus DiffID verification of one layer.
#include "oci/layer.h"

#include "io/decompress.h"
#include "io/sha256.h"

namespace vmimage::oci {
namespace {

// Corrupt bytes usually break the decompressor before the blob's digest check
// at its end can run. On a decompression error this reader drains the
// compressed stream: if its digest check then fails, that is the real cause.
class LayerTarReader : public io::Reader {
 public:
  LayerTarReader(std::unique_ptr<io::Reader> tar, io::Reader* compressed)
      : tar_(std::move(tar)), compressed_(compressed) {}

  Result<size_t> read(std::span<std::byte> buf) override {
    auto n = tar_->read(buf);
    if (n.ok()) return n;
    return explain(std::move(n).error());
  }
  Result<std::span<const std::byte>> read_view(std::span<std::byte> scratch) override {
    auto v = tar_->read_view(scratch);
    if (v.ok()) return v;
    return explain(std::move(v).error());
  }

 private:
  Error explain(Error e) {
    if (failed_ || e.kind() != ErrorKind::kExtract) return e;
    failed_ = true;
    Status rest = io::drain(*compressed_);
    if (!rest.ok() && rest.error().kind() == ErrorKind::kImageDigest) {
      return Error(ErrorKind::kImageDigest,
                   rest.error().message() + " (decompression failed first: " + e.message() + ")");
    }
    return e;
  }

  std::unique_ptr<io::Reader> tar_;
  io::Reader* compressed_;  // owned inside tar_'s chain
  bool failed_ = false;
};

}  // namespace

Result<std::unique_ptr<io::Reader>> open_layer_tar(std::unique_ptr<io::Reader> compressed,
                                                   const Digest& diff_id, std::string name) {
  io::Reader* raw = compressed.get();
  VMI_TRY(io::Decompressed d,
          io::open_decompressed(std::move(compressed), name));
  auto hashed = std::make_unique<io::HashingReader>(
      std::move(d.reader), std::move(name) + " (uncompressed, DiffID " + diff_id.str() + ")", diff_id.str(),
      std::nullopt, io::HashOn::kReadAhead);
  return std::unique_ptr<io::Reader>(std::make_unique<LayerTarReader>(std::move(hashed), raw));
}

Result<std::unique_ptr<io::Reader>> open_layer_image(std::unique_ptr<io::Reader> blob,
                                                     io::Compression compression,
                                                     const Digest& diff_id,
                                                     const std::string& name) {
  io::Reader* raw = blob.get();
  std::unique_ptr<io::Reader> image = std::move(blob);
  switch (compression) {
    case io::Compression::kNone: break;
    case io::Compression::kZstd: image = io::make_zstd_reader(std::move(image), name); break;
    case io::Compression::kGzip: image = io::make_gzip_reader(std::move(image), name); break;
  }
  auto hashed = std::make_unique<io::HashingReader>(
      std::move(image), name + " (raw EROFS image, DiffID " + diff_id.str() + ")", diff_id.str(),
      std::nullopt, io::HashOn::kReadAhead);
  return std::unique_ptr<io::Reader>(std::make_unique<LayerTarReader>(std::move(hashed), raw));
}

}  // namespace vmimage::oci
