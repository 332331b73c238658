// EROFS image bytes -> our reader (blobs read back for squash and export, and
// soon fetched from registries) -> merge -> the EROFS writer in copying mode,
// as a squash does. A tree the reader accepts must write and read back.
#include <cstdint>

#include "fs/erofs/reader.h"
#include "fs/erofs/writer.h"
#include "fuzz_util.h"
#include "tree/merge.h"

using namespace vmimage;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  UniqueFd in = fuzz::memory_file(std::string_view(reinterpret_cast<const char*>(data), size));
  UniqueFd out = fuzz::memory_file();
  auto writer = erofs::ImageWriter::create(out.get(), "squash", fuzz::scratch_dir());
  if (!writer.ok()) fuzz::broken("creating the writer", writer.error());
  uint32_t source = (*writer)->sources().add(in.get(), "input");
  auto layer = erofs::read_image(in.get(), source, "input");
  if (!layer.ok()) return 0;
  tree::Tree merged;
  if (Status s = tree::apply_layer(merged, *layer); !s) fuzz::broken("merging", s.error());
  if (!(*writer)->finish(merged).ok()) return 0;  // refused (unstorable metadata): fine
  auto back = erofs::read_image(out.get(), 0, "squash");
  if (!back.ok()) fuzz::broken("reading back the squash", back.error());
  return 0;
}
