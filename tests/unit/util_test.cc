#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "util/file.h"
#include "vmimage/result.h"

namespace vmimage {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return Error(ErrorKind::kUsage, "not positive: " + std::to_string(v));
  return v;
}

Result<int> doubled(int v) {
  VMI_TRY(int x, parse_positive(v));
  return 2 * x;
}

TEST(Result, PropagatesValueAndError) {
  EXPECT_EQ(*doubled(4), 8);
  Result<int> bad = doubled(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind(), ErrorKind::kUsage);
  EXPECT_EQ(bad.error().context("reading x").message(), "reading x: not positive: -1");
}

TEST(Error, DescribeAddsErrno) {
  Error e(ErrorKind::kIo, "opening /nope", ENOENT);
  EXPECT_EQ(e.describe(), "opening /nope: No such file or directory");
  EXPECT_EQ(error_kind_name(ErrorKind::kLayerFs), "layer fs");
}

class TempDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmimage-unit.XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

using AtomicFileTest = TempDir;

TEST_F(AtomicFileTest, VisibleOnlyAfterCommit) {
  std::string path = dir_ + "/out.img";
  {
    auto file = AtomicFile::create(path);
    ASSERT_TRUE(file.ok());
    std::string data = "hello";
    ASSERT_TRUE(write_all(file->fd(), std::as_bytes(std::span(data)), path).ok());
    EXPECT_FALSE(std::filesystem::exists(path));
    ASSERT_TRUE(file->commit().ok());
  }
  std::ifstream in(path);
  std::string got;
  in >> got;
  EXPECT_EQ(got, "hello");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 1);
}

TEST_F(AtomicFileTest, UncommittedLeavesNothing) {
  std::string path = dir_ + "/out.img";
  {
    auto file = AtomicFile::create(path);
    ASSERT_TRUE(file.ok());
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir_));
}

TEST_F(AtomicFileTest, MakeDirsNested) {
  ASSERT_TRUE(make_dirs(dir_ + "/a/b/c").ok());
  EXPECT_TRUE(std::filesystem::is_directory(dir_ + "/a/b/c"));
  std::ofstream(dir_ + "/f") << "x";
  EXPECT_FALSE(make_dirs(dir_ + "/f/g").ok());
}

}  // namespace
}  // namespace vmimage

namespace vmimage {
namespace {

// Data at [0, 4 KiB) and [8 MiB, 8 MiB + 4 KiB) of a 16 MiB file; the rest holes.
TEST(NextDataSegment, WalksDataAndHoles) {
  UniqueFd fd(::open("/tmp", O_TMPFILE | O_RDWR, 0600));
  ASSERT_TRUE(fd.valid());
  std::string block(4096, 'x');
  ASSERT_EQ(::pwrite(fd.get(), block.data(), block.size(), 0), 4096);
  ASSERT_EQ(::pwrite(fd.get(), block.data(), block.size(), 8 << 20), 4096);
  ASSERT_EQ(::ftruncate(fd.get(), 16 << 20), 0);
  ASSERT_EQ(::fsync(fd.get()), 0);
  DataSegment first = next_data_segment(fd.get(), 0, 16 << 20);
  EXPECT_EQ(first.start, 0u);
  EXPECT_EQ(first.stop, 4096u);
  DataSegment second = next_data_segment(fd.get(), 4096, 16 << 20);
  EXPECT_EQ(second.start, uint64_t{8} << 20);
  EXPECT_EQ(second.stop, (uint64_t{8} << 20) + 4096);
  DataSegment clipped = next_data_segment(fd.get(), 4096, 1 << 20);  // a hole to `end`
  EXPECT_EQ(clipped.start, uint64_t{1} << 20);
  DataSegment tail = next_data_segment(fd.get(), (8 << 20) + 4096, 16 << 20);  // ENXIO
  EXPECT_EQ(tail.start, uint64_t{16} << 20);
  EXPECT_EQ(tail.stop, uint64_t{16} << 20);
}

}  // namespace
}  // namespace vmimage
