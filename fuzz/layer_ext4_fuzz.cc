// Layer bytes (plain, gzip or zstd tar) -> the layer engine writing ext4 (tar
// reader -> layer builder with bodies in a spool -> ext4 writer), as
// `mkfs --type ext4` does.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>

#include "builder/layer_converter.h"
#include "fuzz_util.h"
#include "io/decompress.h"

using namespace vmimage;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string path = fuzz::scratch_dir() + "/vmimage-fuzz-" + std::to_string(::getpid()) + ".ext4";
  UniqueFd out(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!out.valid()) std::abort();
  builder::LayerImageOptions options;
  options.fs_type = FsType::kExt4;
  auto converter = builder::LayerConverter::create(out.get(), path, fuzz::scratch_dir(), options);
  if (!converter.ok()) fuzz::broken("creating the converter", converter.error());
  builder::ImageBudget budget(fuzz::fuzz_limits());
  auto input = io::open_decompressed(
      std::make_unique<io::MemoryReader>(std::string(reinterpret_cast<const char*>(data), size)),
      "layer");
  if (input.ok() && (*converter)->stream(*input->reader, "layer", budget).ok()) {
    (void)(*converter)->finish(nullptr);
  }
  ::unlink(path.c_str());
  return 0;
}
