// Layer bytes (plain, gzip or zstd tar) -> the layer engine (tar reader ->
// layer builder -> EROFS writer), as mkfs, pull and import use it; then the
// image read back and merged. Any image the engine finishes must read back: a
// failure there is a crash.
#include <cstdint>

#include "builder/layer_converter.h"
#include "fs/erofs/reader.h"
#include "fuzz_util.h"
#include "io/decompress.h"
#include "tree/merge.h"

using namespace vmimage;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  UniqueFd out = fuzz::memory_file();
  auto converter = builder::LayerConverter::create(out.get(), "image", fuzz::scratch_dir(), {});
  if (!converter.ok()) fuzz::broken("creating the converter", converter.error());
  builder::ImageBudget budget(fuzz::fuzz_limits());
  auto input = io::open_decompressed(
      std::make_unique<io::MemoryReader>(std::string(reinterpret_cast<const char*>(data), size)),
      "layer");
  if (!input.ok()) return 0;
  if (!(*converter)->stream(*input->reader, "layer", budget).ok()) return 0;
  if (!(*converter)->finish(nullptr).ok()) return 0;  // refused (e.g. unstorable): fine

  auto back = erofs::read_image(out.get(), 0, "image");
  if (!back.ok()) fuzz::broken("reading back a finished image", back.error());
  tree::Tree merged;
  if (Status s = tree::apply_layer(merged, *back); !s) fuzz::broken("merging", s.error());
  if (Status s = tree::apply_layer(merged, *back); !s) fuzz::broken("merging twice", s.error());
  return 0;
}
