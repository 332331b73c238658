// Layer bytes (plain, gzip or zstd tar) -> tar reader -> layer tree (bodies in
// a spool) -> ext4 writer, as `mkfs --type ext4` does.
#include <unistd.h>

#include <cstdint>

#include "builder/convert_layer.h"
#include "fs/ext4/writer.h"
#include "fuzz_util.h"
#include "io/decompress.h"

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
  auto layer = builder::stream_layer(*input->reader, "layer", sink, std::nullopt, nullptr, budget);
  if (!layer.ok()) return 0;
  std::string path = fuzz::scratch_dir() + "/vmimage-fuzz-" + std::to_string(::getpid()) + ".ext4";
  ext4::Ext4Options options;
  options.uuid = std::array<uint8_t, 16>{};
  auto written = ext4::write_ext4(layer->tree, sources, path, options);
  ::unlink(path.c_str());
  return 0;
}
