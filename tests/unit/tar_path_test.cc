// normalize_path: the table of tar name forms and what they become.
#include <gtest/gtest.h>

#include "tar/entry.h"

namespace vmimage::tar {
namespace {

TEST(NormalizePath, Table) {
  const std::pair<const char*, const char*> cases[] = {
      {"a", "a"},
      {"./a", "a"},
      {"/a", "a"},
      {"///a//b/", "a/b"},
      {"./", ""},
      {".", ""},
      {"/", ""},
      {"././a/./b/.", "a/b"},
      {"a/b/../c", "a/c"},
      {"a/..", ""},
      {"a/../b/../c/", "c"},
      {"..a/b..", "..a/b.."},
      {".wh.x", ".wh.x"},
      {"dir/caf\xc3\xa9", "dir/caf\xc3\xa9"},
      {"dir/\xe9\xff", "dir/\xe9\xff"},
  };
  for (const auto& [in, want] : cases) {
    auto got = normalize_path(in);
    ASSERT_TRUE(got.ok()) << in << ": " << got.error().describe();
    EXPECT_EQ(*got, want) << in;
  }
}

TEST(NormalizePath, EscapesAreErrors) {
  for (const char* in : {"..", "../a", "/../a", "a/../../b", "./a/b/../../..", "a/./../.."}) {
    auto got = normalize_path(in);
    ASSERT_FALSE(got.ok()) << in;
    EXPECT_EQ(got.error().kind(), ErrorKind::kTarball);
    EXPECT_NE(got.error().message().find("leaves the root"), std::string::npos);
  }
}

TEST(QuotePath, EscapesNonPrintableBytes) {
  EXPECT_EQ(quote_path("a/b"), "'a/b'");
  EXPECT_EQ(quote_path("caf\xc3\xa9\n"), "'caf\\xc3\\xa9\\x0a'");
  EXPECT_EQ(quote_path("it's"), "'it\\x27s'");
}

}  // namespace
}  // namespace vmimage::tar
