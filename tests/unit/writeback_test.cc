// util/writeback.h: sparse writes of zero blocks and advisory early writeback.
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "scratch_file.h"
#include "util/fd.h"
#include "util/writeback.h"

namespace vmimage {
namespace {

using testing::put;
using testing::scratch_file;

TEST(AllZero, FindsTheFirstNonZeroByteAnywhere) {
  std::vector<std::byte> b(4096);
  EXPECT_TRUE(all_zero(b));
  EXPECT_TRUE(all_zero(std::span(b).first(0)));
  EXPECT_TRUE(all_zero(std::span(b).first(7)));
  for (size_t at : {size_t{0}, size_t{15}, size_t{16}, size_t{17}, size_t{2048}, size_t{4095}}) {
    b[at] = std::byte{1};
    EXPECT_FALSE(all_zero(b)) << at;
    b[at] = std::byte{0};
  }
}

// Allocated 4 KiB blocks of an open file (st_blocks counts 512-byte units).
long allocated_blocks(int fd) {
  struct stat st;
  EXPECT_EQ(::fstat(fd, &st), 0);
  return static_cast<long>(st.st_blocks / 8);
}

TEST(PwriteSkippingZeroBlocks, LeavesAlignedZeroBlocksAsHoles) {
  constexpr uint32_t kBlock = 4096;
  // An unaligned start (100), a zero block, data, two zero blocks, a partial zero tail.
  std::vector<std::byte> data(100 + 5 * kBlock + 50, std::byte{0});
  std::fill_n(data.begin(), 100, std::byte{'a'});
  std::fill_n(data.begin() + 100 + kBlock, kBlock, std::byte{'b'});
  UniqueFd fd = scratch_file();
  uint64_t offset = 3 * kBlock - 100;  // data[100] lands on a block boundary
  ASSERT_TRUE(pwrite_skipping_zero_blocks(fd.get(), data, offset, kBlock, "f").ok());
  std::vector<std::byte> back(data.size());
  ASSERT_EQ(::pread(fd.get(), back.data(), back.size(), static_cast<off_t>(offset)),
            static_cast<ssize_t>(back.size()));
  EXPECT_EQ(back, data);
  struct stat st;
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), offset + data.size());
  // Written: the block holding "a"s, the "b" block, and the block with the partial tail.
  // Filesystems without holes (or with bigger allocation units) would allocate more.
  if (::lseek(fd.get(), 0, SEEK_HOLE) == static_cast<off_t>(st.st_size)) {
    GTEST_SKIP() << "/tmp reports no holes";
  }
  EXPECT_EQ(allocated_blocks(fd.get()), 3);
}

// Writeback is advisory: content stays as written, and fds that refuse it
// (a pipe) are no error.
TEST(WritebackStarter, KeepsContentAndToleratesAnyFd) {
  UniqueFd fd = scratch_file();
  WritebackStarter writeback(fd.get(), PageCache::kKeep, 8192);
  std::string block(4096, 'x');
  for (int i = 0; i < 8; ++i) {
    put(fd.get(), block, i * 4096);
    writeback.wrote(static_cast<uint64_t>(i) * 4096, 4096);
  }
  writeback.wrote(0, 0);
  std::string back(8 * 4096, '\0');
  ASSERT_EQ(::pread(fd.get(), back.data(), back.size(), 0), static_cast<ssize_t>(back.size()));
  EXPECT_EQ(back, std::string(8 * 4096, 'x'));
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  UniqueFd r(pipe_fds[0]), w(pipe_fds[1]);
  WritebackStarter on_pipe(w.get(), PageCache::kDropBehind, 1, 0);
  on_pipe.wrote(0, 10);
  on_pipe.wrote(10, 10);
  for (uint64_t at = 20; at < 100; at += 10) on_pipe.wrote(at, 10);  // drops, refused too
}

// Pages of the file's first `size` bytes that are in the page cache.
size_t resident_pages(int fd, size_t size) {
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  EXPECT_NE(map, MAP_FAILED);
  if (map == MAP_FAILED) return 0;
  size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> in_core((size + page - 1) / page);
  EXPECT_EQ(::mincore(map, size, in_core.data()), 0);
  ::munmap(map, size);
  return static_cast<size_t>(std::count_if(in_core.begin(), in_core.end(),
                                           [](unsigned char c) { return c & 1; }));
}

// Writes 48 MiB in 1 MiB pieces through a starter with 4 MiB steps; returns the
// pages of the file left in the page cache, after checking its content.
size_t write_and_count_resident(PageCache cache, uint64_t keep_first) {
  constexpr size_t kPiece = 1 << 20;
  constexpr size_t kPieces = 48;
  UniqueFd fd = scratch_file();
  WritebackStarter writeback(fd.get(), cache, 4 * kPiece, keep_first);
  for (size_t i = 0; i < kPieces; ++i) {
    put(fd.get(), std::string(kPiece, static_cast<char>('a' + i % 26)),
        static_cast<off_t>(i * kPiece));
    writeback.wrote(i * kPiece, kPiece);
  }
  size_t resident = resident_pages(fd.get(), kPieces * kPiece);
  std::string back(kPiece, '\0');
  for (size_t i = 0; i < kPieces; ++i) {
    EXPECT_EQ(::pread(fd.get(), back.data(), kPiece, static_cast<off_t>(i * kPiece)),
              static_cast<ssize_t>(kPiece));
    EXPECT_EQ(back, std::string(kPiece, static_cast<char>('a' + i % 26))) << "piece " << i;
  }
  return resident;
}

TEST(WritebackStarter, DropBehindKeepsOnlyTheFirstAndLastStepsCached) {
  struct statfs fs;
  ASSERT_EQ(::statfs("/tmp", &fs), 0);
  if (fs.f_type == TMPFS_MAGIC) GTEST_SKIP() << "/tmp is tmpfs: its pages cannot be dropped";
  size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  size_t step_pages = (4 << 20) / page;
  size_t all_pages = (48 << 20) / page;
  // The steps started and not waited for, plus the step still gathering.
  size_t last_steps = (WritebackStarter::kStepsKept + 1) * step_pages;
  EXPECT_LE(write_and_count_resident(PageCache::kDropBehind, 0), last_steps);
  // The first 16 MiB are kept too.
  size_t kept = write_and_count_resident(PageCache::kDropBehind, 16 << 20);
  EXPECT_GE(kept, 4 * step_pages);
  EXPECT_LE(kept, 4 * step_pages + last_steps);
  // The control: without dropping, (nearly) everything written stays cached.
  EXPECT_GE(write_and_count_resident(PageCache::kKeep, 0), all_pages * 3 / 4);
}

}  // namespace
}  // namespace vmimage
