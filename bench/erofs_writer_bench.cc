// EROFS writer throughput: streaming many small files and one large file through
// ImageWriter::sink() (as `vmimage mkfs` does), and copying mode (a squash that
// re-lays out an existing image). Reports files/s and bytes/s.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "fs/erofs/reader.h"
#include "fs/erofs/writer.h"
#include "util/fd.h"

namespace vmimage::erofs {
namespace {

class Scratch {
 public:
  Scratch() {
    char tmpl[] = "/tmp/vmimage-erofs-bench.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  ~Scratch() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  const std::string& dir() const { return dir_; }
  UniqueFd open(const std::string& name) const {
    return UniqueFd(
        ::open((dir_ + "/" + name).c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  }

 private:
  std::string dir_;
};

std::vector<std::byte> payload(size_t size) {
  std::vector<std::byte> buf(size);
  for (size_t i = 0; i < size; ++i) buf[i] = static_cast<std::byte>(i * 131 + (i >> 9));
  return buf;
}

// Streams `files` files of sizes cycling through 100 B..16 KiB into dirs of 100.
uint64_t write_small_files(ImageWriter& w, tree::Tree& t, int files,
                           const std::vector<std::byte>& buf) {
  uint64_t bytes = 0;
  tree::InodeId dir = t.root();
  for (int i = 0; i < files; ++i) {
    if (i % 100 == 0) {
      tree::Inode d;
      d.type = tree::FileType::kDirectory;
      dir = t.add(std::move(d));
      t.inode(t.root()).children["d" + std::to_string(i / 100)] = dir;
    }
    uint64_t size = 100 + (uint64_t{static_cast<uint32_t>(i)} * 2654435761u) % 16284;
    tree::FileDataSink& sink = w.sink();
    if (!sink.begin(size).ok() || !sink.write(0, std::span(buf).first(size)).ok()) std::abort();
    tree::Inode f;
    f.data = *sink.finish();
    t.inode(dir).children["file-" + std::to_string(i)] = t.add(std::move(f));
    bytes += size;
  }
  return bytes;
}

void BM_StreamSmallFiles(benchmark::State& state) {
  Scratch scratch;
  std::vector<std::byte> buf = payload(16384);
  int files = static_cast<int>(state.range(0));
  uint64_t bytes = 0;
  for (auto _ : state) {
    UniqueFd out = scratch.open("small.img");
    auto w = ImageWriter::create(out.get(), "small.img", scratch.dir());
    tree::Tree t;
    bytes += write_small_files(**w, t, files, buf);
    if (!(*w)->finish(t).ok()) std::abort();
  }
  state.SetItemsProcessed(state.iterations() * files);
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_StreamSmallFiles)->Arg(20000)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_StreamLargeFile(benchmark::State& state) {
  Scratch scratch;
  std::vector<std::byte> chunk = payload(1 << 20);
  uint64_t size = uint64_t(state.range(0)) << 20;
  for (auto _ : state) {
    UniqueFd out = scratch.open("large.img");
    auto w = ImageWriter::create(out.get(), "large.img", scratch.dir());
    tree::FileDataSink& sink = (*w)->sink();
    if (!sink.begin(size + 123).ok()) std::abort();
    for (uint64_t off = 0; off < size; off += chunk.size()) {
      if (!sink.write(off, chunk).ok()) std::abort();
    }
    if (!sink.write(size, std::span(chunk).first(123)).ok()) std::abort();
    tree::Tree t;
    tree::Inode f;
    f.data = *sink.finish();
    t.inode(t.root()).children["large"] = t.add(std::move(f));
    if (!(*w)->finish(t).ok()) std::abort();
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * (size + 123)));
}
BENCHMARK(BM_StreamLargeFile)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();

// Copying mode: image A (written once) is read back and re-written as image B.
void BM_CopySmallFiles(benchmark::State& state) {
  Scratch scratch;
  std::vector<std::byte> buf = payload(16384);
  int files = static_cast<int>(state.range(0));
  UniqueFd a = scratch.open("a.img");
  auto wa = ImageWriter::create(a.get(), "a.img", scratch.dir());
  tree::Tree ta;
  uint64_t bytes = write_small_files(**wa, ta, files, buf);
  if (!(*wa)->finish(ta).ok()) std::abort();
  for (auto _ : state) {
    UniqueFd b = scratch.open("b.img");
    auto wb = ImageWriter::create(b.get(), "b.img", scratch.dir());
    uint32_t src = (*wb)->sources().add(a.get(), "a.img");
    Result<tree::Tree> t = read_image(a.get(), src, "a.img");
    if (!t.ok() || !(*wb)->finish(*t).ok()) std::abort();
  }
  state.SetItemsProcessed(state.iterations() * files);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_CopySmallFiles)->Arg(20000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace vmimage::erofs

BENCHMARK_MAIN();
