#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "compress_util.h"
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
                   /*background=*/true);
  EXPECT_TRUE(drain(ok).ok());
  EXPECT_EQ(ok.digest(), sha256_digest(data));
  HashingReader bad(std::make_unique<MemoryReader>(data), "blob", sha256_digest("x"),
                    std::nullopt, /*background=*/true);
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

TEST(Decompress, ReadAheadGivesTheSameStreamAndErrors) {
  std::string data = random_text(3 << 20, 14);
  auto d = open_decompressed(std::make_unique<MemoryReader>(gzip(data)), "t", /*read_ahead=*/true);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*read_all(*d->reader, 1 << 30), data);
  std::string z = gzip(data);
  z[z.size() / 2] ^= 0x55;
  auto bad = open_decompressed(std::make_unique<MemoryReader>(z), "t", /*read_ahead=*/true);
  ASSERT_TRUE(bad.ok());
  auto r = read_all(*bad->reader, 1 << 30);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kExtract);
}

}  // namespace
}  // namespace vmimage::io
