// parse_size / format_size.
#include <gtest/gtest.h>

#include "util/size.h"

namespace vmimage {
namespace {

TEST(ParseSize, UnitsArePowersOf1024) {
  EXPECT_EQ(*parse_size("0"), 0u);
  EXPECT_EQ(*parse_size("512"), 512u);
  EXPECT_EQ(*parse_size("512B"), 512u);
  EXPECT_EQ(*parse_size("64K"), 65536u);
  EXPECT_EQ(*parse_size("64k"), 65536u);
  EXPECT_EQ(*parse_size("3M"), 3u << 20);
  EXPECT_EQ(*parse_size("10G"), 10ull << 30);
  EXPECT_EQ(*parse_size("10GiB"), 10ull << 30);
  EXPECT_EQ(*parse_size("10GB"), 10ull << 30);
  EXPECT_EQ(*parse_size("1T"), 1ull << 40);
  EXPECT_EQ(*parse_size("2P"), 2ull << 50);
  EXPECT_EQ(*parse_size("15E"), 15ull << 60);
}

TEST(ParseSize, RejectsBadInput) {
  for (const char* bad : {"", "G", "-1", "1.5G", "10X", "10 G", "1Gx", "1GiBs", "16E",
                          "18446744073709551616", "99999999999999999999999"}) {
    Result<uint64_t> r = parse_size(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind(), ErrorKind::kUsage);
    EXPECT_NE(r.error().message().find(std::string("\"") + bad + "\""), std::string::npos);
  }
  EXPECT_EQ(*parse_size("18446744073709551615"), UINT64_MAX);
}

TEST(FormatSize, OneDecimal) {
  EXPECT_EQ(format_size(0), "0 B");
  EXPECT_EQ(format_size(1023), "1023 B");
  EXPECT_EQ(format_size(1536), "1.5 KiB");
  EXPECT_EQ(format_size(10ull << 30), "10.0 GiB");
  EXPECT_EQ(format_size(1ull << 40), "1.0 TiB");
}

}  // namespace
}  // namespace vmimage
