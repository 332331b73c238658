// Layer bytes (plain, gzip or zstd tar) -> tar reader -> layer tree (bodies in
// a spool) -> ext4 writer, as `mkfs --type ext4` does.
#include <unistd.h>

#include <cstdint>

#include "builder/layer_limits.h"
#include "fs/ext4/writer.h"
#include "fuzz_util.h"
#include "io/decompress.h"
#include "tar/tar_reader.h"

using namespace vmimage;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto spool = open_scratch_file(fuzz::scratch_dir());
  if (!spool.ok()) fuzz::broken("creating the spool", spool.error());
  tree::DataSources sources;
  uint32_t source = sources.add(spool->get(), "spool");
  tree::SpoolSink sink(spool->get(), source, "spool");
  builder::ImageBudget budget(fuzz::fuzz_limits());
  auto input = io::open_decompressed(
      std::make_unique<io::MemoryReader>(std::string(reinterpret_cast<const char*>(data), size)),
      "layer");
  if (!input.ok()) return 0;
  auto tar = tar::TarReader::open(*input->reader, "layer", budget.tar_options());
  if (!tar.ok()) return 0;
  tree::LayerBuilder layer(sink, budget.layer_options("layer"));
  while (true) {
    auto entry = (*tar)->next();
    if (!entry.ok()) return 0;
    if (*entry == nullptr) break;
    if (!layer.add(**entry, **tar).ok()) return 0;
  }
  auto tree = layer.finish(nullptr);
  if (!tree.ok()) return 0;
  std::string path = fuzz::scratch_dir() + "/vmimage-fuzz-" + std::to_string(::getpid()) + ".ext4";
  ext4::Ext4Options options;
  options.uuid = std::array<uint8_t, 16>{};
  auto written = ext4::write_ext4(*tree, sources, path, options);
  ::unlink(path.c_str());
  return 0;
}
