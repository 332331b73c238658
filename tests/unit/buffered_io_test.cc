// util/buffered_io.h: the read window gives the bytes pread gives, and the
// coalescing writer leaves the file as the plain writes would.
#include <fcntl.h>
#include <unistd.h>

#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "util/buffered_io.h"
#include "scratch_file.h"
#include "util/fd.h"

namespace vmimage {
namespace {

using testing::scratch_file;

std::vector<std::byte> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> v(n);
  for (auto& b : v) b = static_cast<std::byte>(rng() & 0xff);
  return v;
}

std::vector<std::byte> file_bytes(int fd) {
  off_t size = ::lseek(fd, 0, SEEK_END);
  std::vector<std::byte> v(static_cast<size_t>(size));
  EXPECT_EQ(::pread(fd, v.data(), v.size(), 0), size);
  return v;
}

TEST(WindowReader, ReadsWhatPreadReads) {
  UniqueFd fd = scratch_file();
  std::vector<std::byte> content = random_bytes(300000, 1);
  ASSERT_EQ(::pwrite(fd.get(), content.data(), content.size(), 0),
            static_cast<ssize_t>(content.size()));
  WindowReader reader(16384);
  std::mt19937 rng(2);
  for (int i = 0; i < 2000; ++i) {
    size_t len = rng() % (i % 10 == 0 ? 20000 : 3000);  // some bypass the window
    size_t at = rng() % (content.size() - len);
    std::vector<std::byte> out(len);
    ASSERT_TRUE(reader.read(fd.get(), at, out, "f").ok());
    ASSERT_TRUE(std::equal(out.begin(), out.end(), content.begin() + static_cast<ptrdiff_t>(at)))
        << "at " << at << " len " << len;
  }
  std::vector<std::byte> at_end(10);
  ASSERT_TRUE(reader.read(fd.get(), content.size() - 10, at_end, "f").ok());
  std::vector<std::byte> past_end(11);
  Status s = reader.read(fd.get(), content.size() - 10, past_end, "f");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("end of file"), std::string::npos);
}

TEST(CoalescingWriter, SameFileAsPlainWrites) {
  UniqueFd fd = scratch_file();
  UniqueFd expected = scratch_file();
  CoalescingWriter writer(fd.get(), "f", 0, nullptr, 4096);
  std::mt19937 rng(3);
  uint64_t pos = 0;
  for (int i = 0; i < 500; ++i) {
    if (i % 37 == 0) pos += rng() % 10000;  // a gap: a new run
    std::vector<std::byte> data = random_bytes(rng() % (i % 50 == 0 ? 9000 : 700), i);
    ASSERT_TRUE(writer.write(pos, data).ok());
    ASSERT_EQ(::pwrite(expected.get(), data.data(), data.size(), static_cast<off_t>(pos)),
              static_cast<ssize_t>(data.size()));
    pos += data.size();
  }
  ASSERT_TRUE(writer.flush().ok());
  EXPECT_EQ(file_bytes(fd.get()), file_bytes(expected.get()));
}

TEST(CoalescingWriter, LeavesZeroBlocksAsHoles) {
  UniqueFd fd = scratch_file();
  CoalescingWriter writer(fd.get(), "f", 4096, nullptr);
  std::vector<std::byte> zeros(4096 * 64);
  std::vector<std::byte> ones(4096, std::byte{1});
  ASSERT_TRUE(writer.write(0, ones).ok());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(writer.write(4096 + i * zeros.size(), zeros).ok());
  ASSERT_TRUE(writer.write(4096 + 4 * zeros.size(), ones).ok());
  ASSERT_TRUE(writer.flush().ok());
  std::vector<std::byte> content = file_bytes(fd.get());
  ASSERT_EQ(content.size(), 2 * 4096 + 4 * zeros.size());
  EXPECT_EQ(::lseek(fd.get(), 0, SEEK_HOLE), 4096) << "the zeros were written";
  EXPECT_EQ(content[4096], std::byte{0});
  EXPECT_EQ(content.back(), std::byte{1});
}

}  // namespace
}  // namespace vmimage
