// File checksums, against vectors from xxhsum -H2, split, xxd and sha256sum
// (independent tools).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "io/checksum.h"
#include "scratch_file.h"
#include "util/fd.h"

namespace vmimage {
namespace {

using testing::put;
using testing::scratch_file;

std::string checksum(int fd, std::string_view algorithm = io::kFileChecksumAlgorithm) {
  auto c = io::file_checksum(fd, "test file", ErrorKind::kIo, algorithm);
  EXPECT_TRUE(c.ok()) << c.error().describe();
  return c.ok() ? *c : "";
}

// The striped vectors: `split -b 4M -d FILE part.`, `xxhsum -H2` of each part,
// their digests through `xxd -r -p`, and `xxhsum -H2` of that.
TEST(FileChecksum, KnownVectors) {
  UniqueFd empty = scratch_file();
  EXPECT_EQ(checksum(empty.get()), "xxh3-128x4m:99aa06d3014798d86001c324468d497f");
  EXPECT_EQ(checksum(empty.get(), "xxh3-128"), "xxh3-128:99aa06d3014798d86001c324468d497f");
  EXPECT_EQ(checksum(empty.get(), "sha256"),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  UniqueFd sparse = scratch_file();
  put(sparse.get(), "tail", 1000);  // 1000 zero bytes (a hole), then "tail"
  EXPECT_EQ(checksum(sparse.get()), "xxh3-128x4m:ec36f95c9314ec19c4eaf4086a2c6761");
  EXPECT_EQ(checksum(sparse.get(), "xxh3-128"), "xxh3-128:a530306519bc909de6d942ee8108cf89");
  UniqueFd big = scratch_file();  // longer than one 1 MiB read
  put(big.get(), std::string(3000000, 'v'), 0);
  EXPECT_EQ(checksum(big.get()), "xxh3-128x4m:f7824fded256785fd9bc1cbe70ff5581");
  EXPECT_EQ(checksum(big.get(), "xxh3-128"), "xxh3-128:ff927b6d306aae8bd313524cc660b5b6");
}

TEST(FileChecksum, StripesAreHashedApartAndInOrder) {
  // 9 MiB + 5 bytes: two whole 4 MiB stripes and a short one, hashed on threads.
  std::string data(9 * 1024 * 1024 + 5, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 7 + i / 4096) % 251);
  UniqueFd f = scratch_file();
  put(f.get(), data, 0);
  EXPECT_EQ(checksum(f.get()), "xxh3-128x4m:220eb77f45c61164a2cac683425e0a5a");
  EXPECT_EQ(checksum(f.get(), "xxh3-128"), "xxh3-128:d1335ab676e331268e6e1682b2e37e74");
  put(f.get(), "X", 5 * 1024 * 1024);  // one byte of the second stripe
  EXPECT_NE(checksum(f.get()), "xxh3-128x4m:220eb77f45c61164a2cac683425e0a5a");
}

// Holes are hashed as zeros without being read, and a stripe that is all hole
// gets the digest of zeros. The vector is from the same tools (made with a
// python seek/write/truncate); a dense copy must give the same checksum.
TEST(FileChecksum, HolesCountAsZeros) {
  UniqueFd sparse = scratch_file();
  put(sparse.get(), std::string(10, 'A'), 0);
  put(sparse.get(), std::string(5000, 'B'), 9 * 1048576 + 100);
  ASSERT_EQ(::ftruncate(sparse.get(), 13 * 1048576), 0);  // a hole at the end
  struct stat st;
  ASSERT_EQ(::fstat(sparse.get(), &st), 0);
  EXPECT_LT(st.st_blocks * 512, 1 << 20) << "/tmp did not keep the holes: the test proves less";
  EXPECT_EQ(checksum(sparse.get()), "xxh3-128x4m:a1b4f5b63ea61f0b8e74cfc96c31adb4");
  EXPECT_EQ(checksum(sparse.get(), "xxh3-128"), "xxh3-128:2ad08dc9aa13eafe26837dc8e4f642b2");

  UniqueFd dense = scratch_file();
  std::string all(13 * 1048576, '\0');
  std::fill_n(all.begin(), 10, 'A');
  std::fill_n(all.begin() + 9 * 1048576 + 100, 5000, 'B');
  put(dense.get(), all, 0);
  EXPECT_EQ(checksum(dense.get()), checksum(sparse.get()));
}

TEST(FileChecksum, AlgorithmFromPrefix) {
  EXPECT_EQ(io::checksum_algorithm("xxh3-128x4m:00"), "xxh3-128x4m");
  EXPECT_EQ(io::checksum_algorithm("xxh3-128:00"), "xxh3-128");
  EXPECT_EQ(io::checksum_algorithm("sha256:00"), "sha256");
  EXPECT_EQ(io::checksum_algorithm("md5:00"), "");
  EXPECT_EQ(io::checksum_algorithm("nocolon"), "");
  UniqueFd f = scratch_file();
  EXPECT_FALSE(io::file_checksum(f.get(), "f", ErrorKind::kIo, "md5").ok());
}

}  // namespace
}  // namespace vmimage
