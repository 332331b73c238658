// File checksums, against vectors from xxhsum -H2 and sha256sum (independent tools).
#include <fcntl.h>
#include <unistd.h>

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

TEST(FileChecksum, KnownVectors) {
  UniqueFd empty = scratch_file();
  EXPECT_EQ(checksum(empty.get()), "xxh3-128:99aa06d3014798d86001c324468d497f");
  EXPECT_EQ(checksum(empty.get(), "sha256"),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  UniqueFd sparse = scratch_file();
  put(sparse.get(), "tail", 1000);  // 1000 zero bytes (a hole), then "tail"
  EXPECT_EQ(checksum(sparse.get()), "xxh3-128:a530306519bc909de6d942ee8108cf89");
  UniqueFd big = scratch_file();  // longer than one 1 MiB read
  put(big.get(), std::string(3000000, 'v'), 0);
  EXPECT_EQ(checksum(big.get()), "xxh3-128:ff927b6d306aae8bd313524cc660b5b6");
}

TEST(FileChecksum, AlgorithmFromPrefix) {
  EXPECT_EQ(io::checksum_algorithm("xxh3-128:00"), "xxh3-128");
  EXPECT_EQ(io::checksum_algorithm("sha256:00"), "sha256");
  EXPECT_EQ(io::checksum_algorithm("md5:00"), "");
  EXPECT_EQ(io::checksum_algorithm("nocolon"), "");
  UniqueFd f = scratch_file();
  EXPECT_FALSE(io::file_checksum(f.get(), "f", ErrorKind::kIo, "md5").ok());
}

}  // namespace
}  // namespace vmimage
