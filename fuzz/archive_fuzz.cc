// An image archive (docker save, OCI archive) as bytes: the archive walk, the
// documents it keeps (manifest.json, index.json, configs, nested indexes) and
// the resolution of the image. Blobs are decompressed and drained, as the
// import does before converting them.
#include <cstdint>

#include "fuzz_util.h"
#include "io/sha256.h"
#include "source/archive/archive.h"

using namespace vmimage;

namespace {

class DrainingHandler : public archive::BlobHandler {
 public:
  Result<archive::ConvertedBlob> on_blob(const std::string& member, io::Reader& stream) override {
    VMI_TRY(io::Decompressed d,
            io::open_decompressed(std::make_unique<io::BorrowedReader>(stream), member));
    io::HashingReader hashing(std::move(d.reader), member);
    std::vector<std::byte> buf(64 * 1024);
    uint64_t total = 0;
    while (true) {
      VMI_TRY(size_t n, hashing.read(buf));
      if (n == 0) break;
      total += n;
      if (total > (uint64_t{64} << 20)) return Error(ErrorKind::kTarball, "too large for a fuzz run");
    }
    return archive::ConvertedBlob{hashing.digest(), next_++};
  }

 private:
  uint64_t next_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  io::MemoryReader input(std::string(reinterpret_cast<const char*>(data), size));
  DrainingHandler handler;
  archive::ImportOptions options;
  (void)archive::import_archive(input, handler, options);
  return 0;
}
