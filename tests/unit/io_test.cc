#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "compress_util.h"
#include "io/cancel.h"
#include "io/decompress.h"
#include "io/read_ahead.h"
#include "io/reader.h"
#include "io/sha256.h"

namespace vmimage::io {
namespace {

std::string gzip(const std::string& data) { return testing::gzip(data, 6); }
std::string zstd(const std::string& data) { return testing::zstd(data, 3); }

std::string random_text(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, ' ');
  for (char& c : s) c = static_cast<char>('a' + rng() % 7);  // compressible
  return s;
}

Result<std::string> decompress_all(std::string compressed, Compression* kind = nullptr) {
  VMI_TRY(auto d, open_decompressed(std::make_unique<MemoryReader>(std::move(compressed)), "test"));
  if (kind) *kind = d.compression;
  return read_all(*d.reader, 1 << 30);
}

TEST(Decompress, DetectsByMagic) {
  std::string data = random_text(3 << 20, 1);
  Compression kind;
  EXPECT_EQ(*decompress_all(gzip(data), &kind), data);
  EXPECT_EQ(kind, Compression::kGzip);
  EXPECT_EQ(*decompress_all(zstd(data), &kind), data);
  EXPECT_EQ(kind, Compression::kZstd);
  EXPECT_EQ(*decompress_all(data, &kind), data);
  EXPECT_EQ(kind, Compression::kNone);
  EXPECT_EQ(*decompress_all("", &kind), "");
}

TEST(Decompress, GzipMultiMember) {
  std::string a = random_text(100000, 2), b = random_text(50000, 3);
  EXPECT_EQ(*decompress_all(gzip(a) + gzip(b)), a + b);
}

TEST(Decompress, TruncatedGzipIsAnError) {
  std::string z = gzip(random_text(1 << 20, 4));
  auto r = decompress_all(z.substr(0, z.size() / 2));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("truncated"), std::string::npos) << r.error().message();
  auto r2 = decompress_all(z.substr(0, z.size() - 4));  // trailer cut: size missing
  EXPECT_FALSE(r2.ok());
}

TEST(Decompress, CorruptGzipIsAnError) {
  std::string z = gzip(random_text(1 << 20, 5));
  z[z.size() / 2] ^= 0x55;
  EXPECT_FALSE(decompress_all(z).ok());
  std::string trailing = gzip("abc") + "garbage";
  auto r = decompress_all(trailing);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("after the end"), std::string::npos);
}

TEST(Decompress, TruncatedZstdIsAnError) {
  std::string z = zstd(random_text(1 << 20, 6));
  auto r = decompress_all(z.substr(0, z.size() - 10));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("zstd"), std::string::npos);
}

TEST(Sha256, KnownVector) {
  EXPECT_EQ(sha256_digest("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// Large updates are hashed page by page with prefetching: vectors from Python's hashlib.
TEST(Sha256, LargeUpdatesMatchKnownVectors) {
  Sha256 h;
  std::string a(1048576 + 1000, 'a');
  h.update(std::as_bytes(std::span(a)));
  EXPECT_EQ(h.finish_digest(),
            "sha256:0bf6848d57eb45e6150c09e7839511d43c70672d6d9ea5c1a9016edb12e887ca");
  std::string b(65536 + 4096 + 13, '\0');
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<char>(i * 7 % 251);
  for (size_t split : {size_t{0}, size_t{1}, size_t{4095}, size_t{65536}, b.size()}) {
    h.update(std::as_bytes(std::span(b.data(), split)));
    h.update(std::as_bytes(std::span(b.data() + split, b.size() - split)));
    EXPECT_EQ(h.finish_digest(),
              "sha256:a4ce583ff64679244b9a6860f0045b1344c4882cf98b9fc9309a588a03ff9e37")
        << "split at " << split;
  }
}

TEST(BackgroundSha256, EqualsTheDirectHash) {
  std::string data = random_text(20 << 20, 8);  // more than the 512 KiB queue bound
  BackgroundSha256 bg;
  size_t pos = 0;
  for (size_t chunk = 1; pos < data.size(); chunk = chunk * 3 % 700001 + 1) {
    size_t n = std::min(chunk, data.size() - pos);
    bg.update(std::as_bytes(std::span(data.data() + pos, n)));
    pos += n;
  }
  EXPECT_EQ(bg.finish_digest(), sha256_digest(data));
  bg.update(std::as_bytes(std::span(std::string_view("abc"))));  // reset after finish
  EXPECT_EQ(bg.finish_digest(), sha256_digest("abc"));
  bg.update(std::as_bytes(std::span(data.data(), 5)));  // a short chunk, then one past the bound
  bg.update(std::as_bytes(std::span(data.data() + 5, 9 << 20)));
  bg.update(std::as_bytes(std::span(data.data() + 5 + (9 << 20), 7)));
  EXPECT_EQ(bg.finish_digest(), sha256_digest(std::string_view(data).substr(0, 12 + (9 << 20))));
  BackgroundSha256 abandoned;  // destroyed with bytes queued: must not hang
  abandoned.update(std::as_bytes(std::span(data.data(), 1 << 20)));
}

TEST(HashingReader, BackgroundModeVerifiesToo) {
  std::string data = random_text(3 << 20, 9);
  HashingReader ok(std::make_unique<MemoryReader>(data), "blob", sha256_digest(data), data.size(),
                   HashOn::kWorker);
  EXPECT_TRUE(drain(ok).ok());
  EXPECT_EQ(ok.digest(), sha256_digest(data));
  HashingReader bad(std::make_unique<MemoryReader>(data), "blob", sha256_digest("x"),
                    std::nullopt, HashOn::kWorker);
  auto st = drain(bad);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("digest mismatch"), std::string::npos);
}

TEST(HashingReader, VerifiesAtEnd) {
  std::string data = random_text(200000, 7);
  std::string good = sha256_digest(data);
  HashingReader ok(std::make_unique<MemoryReader>(data), "blob", good, data.size());
  EXPECT_TRUE(drain(ok).ok());
  EXPECT_EQ(ok.digest(), good);

  HashingReader bad(std::make_unique<MemoryReader>(data), "blob", sha256_digest("x"));
  auto st = drain(bad);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::kImageDigest);
  EXPECT_NE(st.error().message().find("digest mismatch"), std::string::npos);

  HashingReader short_size(std::make_unique<MemoryReader>(data), "blob", good, data.size() + 1);
  EXPECT_FALSE(drain(short_size).ok());
}

// Returns its data in reads of varying size, then fails (if `error`) or ends.
class ChoppyReader : public Reader {
 public:
  ChoppyReader(std::string data, bool error) : data_(std::move(data)), error_(error) {}
  Result<size_t> read(std::span<std::byte> buf) override {
    if (pos_ == data_.size()) {
      if (error_) return Error(ErrorKind::kExtract, "broken at byte " + std::to_string(pos_));
      return size_t{0};
    }
    size_t n = std::min({buf.size(), data_.size() - pos_, step_});
    step_ = step_ * 7 % 100003 + 1;
    std::memcpy(buf.data(), data_.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::string data_;
  bool error_;
  size_t pos_ = 0;
  size_t step_ = 1;
};

TEST(ReadAheadReader, SameBytesThenTheEnd) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{4096}, size_t{3 << 20}, size_t{5'000'017}}) {
    std::string data = random_text(size, 11);
    ReadAheadReader r(std::make_unique<ChoppyReader>(data, false), 65536, 3);
    auto all = read_all(r, 1 << 30);
    ASSERT_TRUE(all.ok()) << size;
    EXPECT_TRUE(*all == data) << size;
    std::byte b[1];
    EXPECT_EQ(*r.read(b), 0u);  // stays at the end
  }
}

TEST(ReadAheadReader, ErrorComesAfterTheBytesBeforeIt) {
  std::string data = random_text(300000, 12);
  ReadAheadReader r(std::make_unique<ChoppyReader>(data, true), 65536, 2);
  std::string got;
  std::vector<std::byte> buf(10000);
  Result<size_t> n = size_t{0};
  while ((n = r.read(buf)).ok() && *n > 0) got.append(reinterpret_cast<char*>(buf.data()), *n);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);
  EXPECT_NE(n.error().message().find("broken at byte 300000"), std::string::npos);
  EXPECT_FALSE(r.read(buf).ok());  // the error stays
}

TEST(ReadAheadReader, DestroyedBeforeTheEndDoesNotHang) {
  std::string data = random_text(4 << 20, 13);
  ReadAheadReader r(std::make_unique<ChoppyReader>(data, false), 65536, 2);
  std::vector<std::byte> buf(100);
  ASSERT_TRUE(r.read(buf).ok());
}

TEST(ReadAheadReader, TheObserverSeesEveryByteInOrderBeforeTheEnd) {
  std::string data = random_text(5'000'017, 15);
  std::string seen;
  bool ended_early = false;
  {
    // A slow observer and two small buffers: the worker must wait for it too.
    ReadAheadReader r(std::make_unique<ChoppyReader>(data, false), 65536, 2,
                      [&](std::span<const std::byte> bytes) {
                        std::this_thread::sleep_for(std::chrono::microseconds(200));
                        seen.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
                      });
    auto all = read_all(r, 1 << 30);
    ASSERT_TRUE(all.ok());
    EXPECT_TRUE(*all == data);
    ended_early = seen.size() != data.size();  // read() gave 0 before the observer was done
  }
  EXPECT_FALSE(ended_early);
  EXPECT_TRUE(seen == data);
}

TEST(ReadAheadReader, TheErrorWaitsForTheObserverToo) {
  std::string data = random_text(300000, 16);
  size_t seen = 0;
  ReadAheadReader r(std::make_unique<ChoppyReader>(data, true), 65536, 2,
                    [&](std::span<const std::byte> bytes) { seen += bytes.size(); });
  auto all = read_all(r, 1 << 30);
  ASSERT_FALSE(all.ok());
  EXPECT_EQ(seen, data.size());
}

TEST(ReadAheadReader, DestroyedBeforeTheEndWithAnObserverDoesNotHang) {
  std::string data = random_text(4 << 20, 17);
  ReadAheadReader r(std::make_unique<ChoppyReader>(data, false), 65536, 2,
                    [](std::span<const std::byte>) {});
  std::vector<std::byte> buf(100);
  ASSERT_TRUE(r.read(buf).ok());
}

TEST(ReadAheadReader, ViewsGiveTheBuffersInPlaceAndMixWithReads) {
  std::string data = random_text(1'000'003, 18);
  ReadAheadReader r(std::make_unique<ChoppyReader>(data, false), 65536, 3);
  std::string got;
  std::vector<std::byte> scratch(10);
  for (int i = 0;; ++i) {
    if (i % 3 == 2) {  // every third call a plain read, into a small buffer
      auto n = r.read(scratch);
      ASSERT_TRUE(n.ok());
      if (*n == 0) break;
      got.append(reinterpret_cast<const char*>(scratch.data()), *n);
      continue;
    }
    auto v = r.read_view(scratch);
    ASSERT_TRUE(v.ok());
    if (v->empty()) break;
    EXPECT_NE(v->data(), scratch.data());  // in place, not copied
    got.append(reinterpret_cast<const char*>(v->data()), v->size());
  }
  EXPECT_TRUE(got == data);
  EXPECT_TRUE(r.read_view(scratch)->empty());  // stays at the end
}

TEST(HashingReader, ViewsAreHashedAndVerified) {
  std::string data = random_text(2'500'000, 19);
  for (HashOn where : {HashOn::kCaller, HashOn::kWorker, HashOn::kReadAhead}) {
    HashingReader ok(std::make_unique<MemoryReader>(data), "blob", sha256_digest(data),
                     data.size(), where);
    std::string got;
    std::vector<std::byte> scratch(4096);
    while (true) {
      auto v = ok.read_view(scratch);
      ASSERT_TRUE(v.ok());
      if (v->empty()) break;
      got.append(reinterpret_cast<const char*>(v->data()), v->size());
    }
    EXPECT_TRUE(got == data);
    EXPECT_EQ(ok.digest(), sha256_digest(data));
    HashingReader bad(std::make_unique<MemoryReader>(data), "blob", sha256_digest("x"),
                      std::nullopt, where);
    Result<std::span<const std::byte>> v = std::span<const std::byte>();
    while ((v = bad.read_view(scratch)).ok() && !v->empty()) {
    }
    ASSERT_FALSE(v.ok());
    EXPECT_NE(v.error().message().find("digest mismatch"), std::string::npos);
  }
}

TEST(HashingReader, ReadAheadModeHashesAndVerifiesAGzipStream) {
  std::string data = random_text(3 << 20, 14);
  auto d = open_decompressed(std::make_unique<MemoryReader>(gzip(data)), "t");
  ASSERT_TRUE(d.ok());
  HashingReader ok(std::move(d->reader), "t", sha256_digest(data), data.size(),
                   HashOn::kReadAhead);
  EXPECT_EQ(*read_all(ok, 1 << 30), data);
  EXPECT_EQ(ok.digest(), sha256_digest(data));

  auto d2 = open_decompressed(std::make_unique<MemoryReader>(gzip(data)), "t");
  HashingReader wrong(std::move(d2->reader), "t", sha256_digest("x"), std::nullopt,
                      HashOn::kReadAhead);
  auto w = read_all(wrong, 1 << 30);
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.error().message().find("digest mismatch"), std::string::npos);

  std::string z = gzip(data);
  z[z.size() / 2] ^= 0x55;
  auto d3 = open_decompressed(std::make_unique<MemoryReader>(z), "t");
  ASSERT_TRUE(d3.ok());
  HashingReader bad(std::move(d3->reader), "t", std::nullopt, std::nullopt, HashOn::kReadAhead);
  auto r = read_all(bad, 1 << 30);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kExtract);
}

TEST(StopFlag, StopsOnItsOwnOrWhenTheOuterFlagIsSet) {
  StopFlag alone(nullptr);
  EXPECT_FALSE(is_cancelled(alone.flag()));
  alone.stop();
  EXPECT_TRUE(is_cancelled(alone.flag()));

  std::atomic<bool> outer{false};
  StopFlag linked(&outer);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(is_cancelled(linked.flag()));
  outer = true;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!is_cancelled(linked.flag()) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(is_cancelled(linked.flag()));
}

}  // namespace
}  // namespace vmimage::io
