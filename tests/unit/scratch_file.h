// Anonymous scratch files for unit tests that write and read back raw bytes.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "util/fd.h"

namespace vmimage::testing {

// An O_TMPFILE file in /tmp: never visible, gone when closed.
inline UniqueFd scratch_file() {
  UniqueFd fd(::open("/tmp", O_TMPFILE | O_RDWR, 0600));
  EXPECT_TRUE(fd.valid());
  return fd;
}

// Writes `s` at offset `at`.
inline void put(int fd, const std::string& s, off_t at) {
  ASSERT_EQ(::pwrite(fd, s.data(), s.size(), at), static_cast<ssize_t>(s.size()));
}

}  // namespace vmimage::testing
