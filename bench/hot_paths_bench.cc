// Throughput of the hot paths a pull runs per byte: SHA-256 (inline, on the
// worker thread, and in place on the read-ahead buffers), the store's XXH3-128
// file checksum, gzip inflate (isa-l, with and without the read-ahead thread)
// and tar parsing (libarchive through TarReader). Reports bytes/s, and
// entries/s for tar parsing.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "io/checksum.h"
#include "io/decompress.h"
#include "io/read_ahead.h"
#include "io/sha256.h"
#include "tar/tar_reader.h"
#include "util/fd.h"

namespace vmimage {
namespace {

constexpr size_t kStreamBytes = size_t{64} << 20;

// Text-like bytes: compress about 3:1 with gzip -6, like a typical layer.
std::string sample(size_t size) {
  std::string s(size, '\0');
  uint32_t x = 12345;
  for (size_t i = 0; i < size; ++i) {
    x = x * 1103515245u + 12345u;
    s[i] = static_cast<char>('a' + ((x >> 16) % 7) + (i % 64 == 63 ? -87 : 0));
  }
  return s;
}

std::string gzip(const std::string& data) {
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

void BM_Sha256(benchmark::State& state) {
  std::string data = sample(kStreamBytes);
  for (auto _ : state) {
    io::Sha256 h;
    for (size_t at = 0; at < data.size(); at += 1 << 20) {
      h.update(std::string_view(data).substr(at, 1 << 20));
    }
    benchmark::DoNotOptimize(h.finish_digest());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_Sha256)->Unit(benchmark::kMillisecond)->UseRealTime();

// As a HashingReader feeds it: 64 KiB updates, hashed on the worker thread.
void BM_BackgroundSha256(benchmark::State& state) {
  std::string data = sample(kStreamBytes);
  for (auto _ : state) {
    io::BackgroundSha256 h;
    for (size_t at = 0; at < data.size(); at += 64 << 10) {
      h.update(std::as_bytes(std::span(data.data() + at, 64 << 10)));
    }
    benchmark::DoNotOptimize(h.finish_digest());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_BackgroundSha256)->Unit(benchmark::kMillisecond)->UseRealTime();

// The DiffID path: HashingReader in kReadAhead mode, so a read-ahead thread
// writes each 1 MiB buffer and the observer thread hashes it on the other core
// (Sha256::update prefetches for this), while the caller reads the views.
// The source repeats a 256 KiB pattern, as a decompressor's output comes from
// its cache-hot window, so the producer is not slowed by memory.
class RepeatingReader : public io::Reader {
 public:
  RepeatingReader(std::string pattern, uint64_t total)
      : pattern_(std::move(pattern)), left_(total) {}
  Result<size_t> read(std::span<std::byte> buf) override {
    size_t n = static_cast<size_t>(std::min<uint64_t>({buf.size(), left_, pattern_.size() - pos_}));
    std::memcpy(buf.data(), pattern_.data() + pos_, n);
    pos_ = (pos_ + n) % pattern_.size();
    left_ -= n;
    return n;
  }

 private:
  std::string pattern_;
  size_t pos_ = 0;
  uint64_t left_;
};

void BM_Sha256ReadAhead(benchmark::State& state) {
  std::string pattern = sample(256 << 10);
  std::vector<std::byte> scratch(64 << 10);
  for (auto _ : state) {
    io::HashingReader r(std::make_unique<RepeatingReader>(pattern, kStreamBytes), "bench",
                        std::nullopt, std::nullopt, io::HashOn::kReadAhead);
    while (true) {
      Result<std::span<const std::byte>> view = r.read_view(scratch);
      if (!view.ok() || view->empty()) break;
    }
    benchmark::DoNotOptimize(r.digest());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kStreamBytes));
}
BENCHMARK(BM_Sha256ReadAhead)->Unit(benchmark::kMillisecond)->UseRealTime();

// The seal of every blob: a file in the page cache, read in 1 MiB preads.
void BM_FileChecksum(benchmark::State& state) {
  std::string data = sample(kStreamBytes);
  UniqueFd fd(::open("/tmp", O_TMPFILE | O_RDWR, 0600));
  if (!fd.valid() || ::pwrite(fd.get(), data.data(), data.size(), 0) != ssize_t(data.size())) {
    state.SkipWithError("cannot write a scratch file in /tmp");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(io::file_checksum(fd.get(), "bench", ErrorKind::kIo));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_FileChecksum)->Unit(benchmark::kMillisecond)->UseRealTime();

// Bytes/s of decompressed output. Arg(0): inflate on the caller's thread;
// Arg(1): on a read-ahead thread; Arg(2): that, plus SHA-256 of the output on a
// third thread (HashOn::kReadAhead, the path a layer takes).
void BM_GzipInflate(benchmark::State& state) {
  std::string plain = sample(kStreamBytes);
  std::string compressed = gzip(plain);
  std::vector<std::byte> buf(256 << 10);
  for (auto _ : state) {
    auto d = io::open_decompressed(std::make_unique<io::MemoryReader>(compressed), "bench");
    std::unique_ptr<io::Reader> reader = std::move(d->reader);
    if (state.range(0) == 1) reader = std::make_unique<io::ReadAheadReader>(std::move(reader));
    if (state.range(0) == 2) {
      reader = std::make_unique<io::HashingReader>(std::move(reader), "bench", std::nullopt,
                                                   std::nullopt, io::HashOn::kReadAhead);
    }
    size_t total = 0;
    for (;;) {
      auto n = reader->read(buf);
      if (!n.ok() || *n == 0) break;
      total += *n;
    }
    if (total != plain.size()) state.SkipWithError("short inflate");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * plain.size()));
  state.counters["ratio"] = double(plain.size()) / double(compressed.size());
}
BENCHMARK(BM_GzipInflate)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

// A pax tar of `files` files (sizes 0..8 KiB) in 100-entry directories.
std::string make_tar(int files, size_t* payload) {
  std::string out(static_cast<size_t>(files) * 10240 + (1 << 20), '\0');
  size_t used = 0;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open_memory(a, out.data(), out.size(), &used);
  std::string body = sample(8192);
  *payload = 0;
  for (int i = 0; i < files; ++i) {
    archive_entry* e = archive_entry_new();
    std::string path = "usr/lib/d" + std::to_string(i / 100) + "/file" + std::to_string(i);
    size_t size = (size_t{static_cast<uint32_t>(i)} * 2654435761u) % 8192;
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(size));
    archive_write_header(a, e);
    archive_write_data(a, body.data(), size);
    archive_entry_free(e);
    *payload += size;
  }
  archive_write_close(a);
  archive_write_free(a);
  out.resize(used);
  return out;
}

void BM_TarParse(benchmark::State& state) {
  size_t payload = 0;
  std::string tar = make_tar(static_cast<int>(state.range(0)), &payload);
  for (auto _ : state) {
    io::MemoryReader input(tar);
    auto reader = tar::TarReader::open(input, "bench");
    int64_t entries = 0;
    for (;;) {
      auto e = (*reader)->next();
      if (!e.ok() || *e == nullptr) break;
      ++entries;
      for (;;) {
        auto b = (*reader)->read_block();
        if (!b.ok() || !*b) break;
        benchmark::DoNotOptimize((*b)->bytes.data());
      }
    }
    if (entries != state.range(0)) state.SkipWithError("entries missing");
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * tar.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * state.range(0)));
}
BENCHMARK(BM_TarParse)->Arg(20000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace vmimage

