// Layer bytes (plain, gzip or zstd tar) -> tar reader -> layer tree -> EROFS
// writer, then the image read back and merged, as pull and mkfs do. Any image
// the writer finishes must read back: a failure there is a crash.
#include <cstdint>

#include "builder/convert_layer.h"
#include "fs/erofs/reader.h"
#include "fs/erofs/writer.h"
#include "fuzz_util.h"
#include "io/decompress.h"
#include "tree/merge.h"

using namespace vmimage;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  UniqueFd out = fuzz::memory_file();
  auto writer = erofs::ImageWriter::create(out.get(), "image", fuzz::scratch_dir());
  if (!writer.ok()) fuzz::broken("creating the writer", writer.error());
  builder::ImageBudget budget(fuzz::fuzz_limits());
  auto input = io::open_decompressed(
      std::make_unique<io::MemoryReader>(std::string(reinterpret_cast<const char*>(data), size)),
      "layer");
  if (!input.ok()) return 0;
  auto layer = builder::stream_layer(*input->reader, "layer", (*writer)->sink(), std::nullopt,
                                     nullptr, budget);
  if (!layer.ok()) return 0;
  if (!(*writer)->finish(layer->tree).ok()) return 0;  // refused (e.g. unstorable): fine

  auto back = erofs::read_image(out.get(), 0, "image");
  if (!back.ok()) fuzz::broken("reading back a finished image", back.error());
  tree::Tree merged;
  if (Status s = tree::apply_layer(merged, *back); !s) fuzz::broken("merging", s.error());
  if (Status s = tree::apply_layer(merged, *back); !s) fuzz::broken("merging twice", s.error());
  return 0;
}
