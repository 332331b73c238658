// Decompression plus DiffID verification of one layer.
#include "oci/layer.h"

#include "io/decompress.h"
#include "io/sha256.h"

namespace vmimage::oci {

Result<std::unique_ptr<io::Reader>> open_layer_tar(std::unique_ptr<io::Reader> compressed,
                                                   const Digest& diff_id, std::string name) {
  VMI_TRY(io::Decompressed d, io::open_decompressed(std::move(compressed), name));
  return std::unique_ptr<io::Reader>(std::make_unique<io::HashingReader>(
      std::move(d.reader), name + " (uncompressed, DiffID " + diff_id.str() + ")",
      diff_id.str()));
}

}  // namespace vmimage::oci
