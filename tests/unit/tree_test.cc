#include <sys/stat.h>

#include <gtest/gtest.h>

#include "tree/tree.h"

namespace vmimage::tree {
namespace {

TEST(Tree, LookupAndLinkCounts) {
  Tree t;
  Inode dir;
  dir.type = FileType::kDirectory;
  InodeId a = t.add(dir);
  t.inode(t.root()).children["a"] = a;
  Inode file;
  InodeId f = t.add(file);
  t.inode(a).children["f"] = f;
  t.inode(t.root()).children["hard"] = f;
  t.add(Inode{});  // unreachable

  EXPECT_EQ(t.lookup(""), t.root());
  EXPECT_EQ(t.lookup("a/f"), f);
  EXPECT_EQ(t.lookup("a/missing"), kNoInode);
  EXPECT_EQ(t.lookup("hard/x"), kNoInode);

  auto counts = link_counts(t);
  EXPECT_EQ(counts[t.root()], 3u);
  EXPECT_EQ(counts[a], 2u);
  EXPECT_EQ(counts[f], 2u);
  EXPECT_EQ(counts[3], 0u);
  EXPECT_EQ(reachable_inodes(t), (std::vector<InodeId>{0, 1, 2}));
}

TEST(Tree, TypeModeBits) {
  EXPECT_EQ(type_mode_bits(FileType::kRegular), static_cast<uint32_t>(S_IFREG));
  EXPECT_EQ(type_mode_bits(FileType::kDirectory), static_cast<uint32_t>(S_IFDIR));
  EXPECT_EQ(type_mode_bits(FileType::kSymlink), static_cast<uint32_t>(S_IFLNK));
  EXPECT_EQ(type_mode_bits(FileType::kCharDevice), static_cast<uint32_t>(S_IFCHR));
  EXPECT_EQ(type_mode_bits(FileType::kBlockDevice), static_cast<uint32_t>(S_IFBLK));
  EXPECT_EQ(type_mode_bits(FileType::kFifo), static_cast<uint32_t>(S_IFIFO));
  EXPECT_EQ(type_mode_bits(FileType::kSocket), static_cast<uint32_t>(S_IFSOCK));
}

TEST(Inode, XattrsStaySorted) {
  Inode n;
  n.set_xattr("user.b", "2");
  n.set_xattr("security.capability", "c");
  n.set_xattr("user.a", "1");
  n.set_xattr("user.b", "3");
  ASSERT_EQ(n.xattrs.size(), 3u);
  EXPECT_EQ(n.xattrs[0].name, "security.capability");
  EXPECT_EQ(n.xattrs[1].name, "user.a");
  EXPECT_EQ(*n.find_xattr("user.b"), "3");
  EXPECT_TRUE(n.remove_xattr("user.a"));
  EXPECT_EQ(n.find_xattr("user.a"), nullptr);
}

}  // namespace
}  // namespace vmimage::tree
