// ext4 writer: rich trees written, checked with e2fsck -fn, loop-mounted
// read-only and compared attribute by attribute; sizing, determinism, sparse
// files and errors.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "ext4_test_util.h"
#include "fs/ext4/writer.h"

namespace vmimage::ext4 {
namespace {

using testing::compare_tree;
using testing::Mount;
using testing::run;
using testing::TempDir;
using testing::TreeBuilder;

constexpr uint64_t kGiB = uint64_t{1} << 30;

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// A POSIX ACL in the kernel's xattr format (what tar carries): (tag, perm, id).
std::string posix_acl(const std::vector<std::array<uint32_t, 3>>& entries) {
  std::string v("\x02\x00\x00\x00", 4);
  for (const auto& [tag, perm, id] : entries) {
    for (uint32_t x : {tag & 0xff, tag >> 8, perm & 0xff, perm >> 8}) v += static_cast<char>(x);
    for (int i = 0; i < 4; ++i) v += static_cast<char>(id >> (8 * i));
  }
  return v;
}

// Every kind of entry and attribute the tree model can hold.
void build_rich_tree(TreeBuilder& b) {
  b.at(b.tree.root()).mtime_sec = 1600000000;
  b.dir("bin");
  b.dir("etc", 0750);
  tree::InodeId tmp = b.dir("tmp", 01777);
  b.at(tmp).mtime_nsec = 999999999;
  b.file("empty", "");
  b.file("one", "x");
  b.file("f4095", random_bytes(4095, 1));
  b.file("f4096", random_bytes(4096, 2));
  b.file("f4097", random_bytes(4097, 3));
  b.file("multi-mib", random_bytes(3 * 1024 * 1024 + 17, 4));
  // Real zero blocks inside data become holes and must still read back as zeros.
  b.file("zeros-inside",
         random_bytes(5000, 5) + std::string(3 * 4096, '\0') + random_bytes(100, 6));
  b.file("all-zeros", std::string(64 * 1024, '\0'));
  b.sparse_file("sparse-5g", 5 * kGiB + 123,
                {{0, "head"}, {kGiB + 4095, random_bytes(10000, 7)}, {5 * kGiB + 100, "tail!"}});
  b.file(std::string(255, 'n'), "longest name");
  // 1500 one-block extents: leaves under an index block (extent tree depth 2).
  std::vector<std::pair<uint64_t, std::string>> pieces;
  for (uint64_t i = 0; i < 1500; ++i)
    pieces.emplace_back(i * 8192 + 100, random_bytes(50, 1000 + i));
  b.sparse_file("fragmented", 1500 * 8192, pieces);
  tree::InodeId tool = b.file("bin/tool", random_bytes(7000, 8), 04755);
  b.link("etc/tool-link", tool);
  tree::InodeId sgid = b.file("bin/sgid", "g", 02711);
  b.at(sgid).uid = 100000;
  b.at(sgid).gid = 4000000000u;
  b.file("etc/secret", "s", 0);
  tree::InodeId ping = b.file("bin/ping", random_bytes(300, 9), 0755);
  std::string caps(
      "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20);
  b.at(ping).set_xattr("security.capability", caps);
  b.at(ping).set_xattr("user.comment", "ping");
  tree::InodeId opaque = b.dir("opaque");
  b.at(opaque).set_xattr("trusted.overlay.opaque", "y");
  b.file("opaque/inside", "i");
  // ACLs are stored in ext4's own format and must read back unchanged.
  constexpr uint32_t kAny = 0xffffffff;
  std::string acl = posix_acl(
      {{0x01, 6, kAny}, {0x02, 4, 1000}, {0x04, 4, kAny}, {0x10, 4, kAny}, {0x20, 0, kAny}});
  tree::InodeId acl_file = b.file("acl-file", "acl", 0640);
  b.at(acl_file).set_xattr("system.posix_acl_access", acl);
  tree::InodeId acl_dir = b.dir("acl-dir", 0750);
  b.at(acl_dir).set_xattr("system.posix_acl_access", acl);
  b.at(acl_dir).set_xattr("system.posix_acl_default", acl);
  tree::InodeId many = b.file("many-xattrs", "m");
  for (int i = 0; i < 20; ++i)
    b.at(many).set_xattr("user.attr" + std::to_string(i), random_bytes(40, 100 + i));
  b.symlink("link-short", "one");
  b.symlink("link-dangling", "/does/not/exist");
  b.symlink("link-59", std::string(59, 'a'));
  b.symlink("link-60", std::string(60, 'b'));
  b.symlink("link-long", std::string(4000, 'c'));
  b.special("dev-null", tree::FileType::kCharDevice, 1, 3);
  b.special("dev-sda", tree::FileType::kBlockDevice, 8, 0);
  b.special("dev-big", tree::FileType::kCharDevice, 4000, 300000);
  b.special("whiteout", tree::FileType::kCharDevice, 0, 0);
  b.special("fifo", tree::FileType::kFifo);
  b.special("socket", tree::FileType::kSocket);
  tree::InodeId old = b.file("old", "o");
  b.at(old).mtime_sec = -1000000;
  b.at(old).mtime_nsec = 5;
  tree::InodeId future = b.file("future", "f");
  b.at(future).mtime_sec = int64_t{1} << 33;
  b.at(future).mtime_nsec = 123456789;
  std::string path;
  for (int depth = 0; depth < 60; ++depth) {
    path += (depth ? "/" : "") + std::string("d") + std::to_string(depth);
    b.dir(path);
  }
  b.link(path + "/tool", tool);
  b.dir("big");
  for (int i = 0; i < 3000; ++i) b.file("big/entry-" + std::to_string(i), std::to_string(i));
}

class Ext4WriterTest : public ::testing::Test {
 protected:
  TempDir tmp;
  TreeBuilder b{tmp.path()};

  Result<Ext4Stats> write(const std::string& name, const Ext4Options& options = {}) {
    return write_ext4(b.tree, b.sources, tmp / name, options);
  }
  void expect_fsck_clean(const std::string& image) {
    std::string out;
    EXPECT_EQ(run("e2fsck -fn '" + image + "'", &out), 0) << out;
  }
  void expect_mount_equal(const std::string& image, const std::vector<std::string>& extra = {}) {
    ASSERT_TRUE(testing::running_as_root()) << "mount tests need root";
    Mount m(image, tmp / "mnt", "ext4", "loop,ro");
    ASSERT_TRUE(m.ok()) << m.error();
    std::vector<std::string> diffs = compare_tree(b.tree, b.sources, tmp / "mnt", extra);
    for (size_t i = 0; i < diffs.size() && i < 30; ++i) ADD_FAILURE() << diffs[i];
  }
};

TEST_F(Ext4WriterTest, RichTreeMountsEqual) {
  build_rich_tree(b);
  Result<Ext4Stats> stats = write("rich.ext4");
  ASSERT_TRUE(stats.ok()) << stats.error().describe();
  EXPECT_TRUE(stats->auto_sized);
  EXPECT_EQ(stats->files, 3000u + 20u);
  EXPECT_EQ(stats->symlinks, 5u);
  EXPECT_EQ(stats->special, 6u);
  expect_fsck_clean(tmp / "rich.ext4");
  expect_mount_equal(tmp / "rich.ext4");
  // The 5 GiB sparse file keeps only its few data blocks: the image is small.
  EXPECT_LT(testing::disk_blocks(tmp / "rich.ext4") * 512, 24u << 20);
  EXPECT_LT(stats->size_bytes, 32u << 20);
}

// The comparison really looks at what it claims to: a changed tree no longer
// matches the image written from the original.
TEST_F(Ext4WriterTest, ComparisonDetectsDifferences) {
  tree::InodeId f = b.file("f", "content");
  tree::InodeId d = b.dir("d");
  ASSERT_TRUE(write("a.ext4").ok());
  ASSERT_TRUE(testing::running_as_root());
  Mount m(tmp / "a.ext4", tmp / "mnt", "ext4", "loop,ro");
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_TRUE(compare_tree(b.tree, b.sources, tmp / "mnt").empty());
  b.at(f).mode = 0600;
  b.at(d).mtime_nsec = 1;
  b.at(d).set_xattr("user.x", "1");
  b.file("d/new", "n");
  std::vector<std::string> diffs = compare_tree(b.tree, b.sources, tmp / "mnt");
  EXPECT_EQ(diffs.size(), 5u) << ::testing::PrintToString(diffs);
  TreeBuilder other(tmp.path());
  other.file("f", "contenT");
  other.dir("d");
  EXPECT_EQ(compare_tree(other.tree, other.sources, tmp / "mnt").size(), 1u);
}

TEST_F(Ext4WriterTest, EmptyTree) {
  Result<Ext4Stats> stats = write("empty.ext4");
  ASSERT_TRUE(stats.ok()) << stats.error().describe();
  EXPECT_EQ(stats->inodes_used, 10u);  // reserved inodes, the root among them
  expect_fsck_clean(tmp / "empty.ext4");
  expect_mount_equal(tmp / "empty.ext4");
}

TEST_F(Ext4WriterTest, Deterministic) {
  build_rich_tree(b);
  Ext4Options options;
  options.timestamp = 1700000000;
  options.label = "rootfs";
  Result<Ext4Stats> one = write("one.ext4", options);
  Result<Ext4Stats> two = write("two.ext4", options);
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_EQ(run("cmp '" + tmp / "one.ext4" + "' '" + tmp / "two.ext4" + "'"), 0);
  EXPECT_EQ(one->uuid, two->uuid);
  std::string out;
  ASSERT_EQ(run("dumpe2fs -h '" + tmp / "one.ext4" + "'", &out), 0);
  EXPECT_NE(out.find("Filesystem UUID:          " + one->uuid), std::string::npos) << out;
  EXPECT_NE(out.find("Filesystem volume name:   rootfs"), std::string::npos);
  // Every superblock time is the given timestamp (2023-11-14 22:13:20 UTC).
  for (const char* field : {"Filesystem created:", "Last write time:", "Last checked:"}) {
    size_t at = out.find(field);
    ASSERT_NE(at, std::string::npos) << field;
    EXPECT_NE(out.substr(at, 60).find("Nov 14 22:13:20 2023"), std::string::npos)
        << out.substr(at, 60);
  }
  // One byte of one file changes the UUID: it is derived from the contents.
  b.file("bin/extra", "x");
  Result<Ext4Stats> three = write("three.ext4", options);
  ASSERT_TRUE(three.ok());
  EXPECT_NE(three->uuid, one->uuid);
}

TEST_F(Ext4WriterTest, GivenUuidLabelAndSize) {
  build_rich_tree(b);
  Ext4Options options;
  options.size_bytes = (256u << 20) + 1000;  // not a block multiple: the file keeps it
  options.uuid = std::array<uint8_t, 16>{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
                                         0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
  options.label = "sixteen-bytes-ok";
  Result<Ext4Stats> stats = write("sized.ext4", options);
  ASSERT_TRUE(stats.ok()) << stats.error().describe();
  EXPECT_FALSE(stats->auto_sized);
  EXPECT_EQ(std::filesystem::file_size(tmp / "sized.ext4"), options.size_bytes);
  EXPECT_EQ(stats->uuid, "12345678-9abc-def0-0123-456789abcdef");
  // Space beyond the content brings inodes at one per 16 KiB.
  EXPECT_GT(stats->inodes, (200u << 20) / 16384);
  std::string out;
  ASSERT_EQ(run("blkid -p -o export '" + tmp / "sized.ext4" + "'", &out), 0) << out;
  EXPECT_NE(out.find("UUID=12345678-9abc-def0-0123-456789abcdef"), std::string::npos) << out;
  EXPECT_NE(out.find("LABEL=sixteen-bytes-ok"), std::string::npos) << out;
  expect_fsck_clean(tmp / "sized.ext4");
  expect_mount_equal(tmp / "sized.ext4");
}

TEST_F(Ext4WriterTest, SizeTooSmallFailsBeforeWriting) {
  build_rich_tree(b);
  Result<uint64_t> needed = ext4_size_needed(b.tree, b.sources, {});
  ASSERT_TRUE(needed.ok()) << needed.error().describe();
  Ext4Options options;
  options.size_bytes = *needed / 2;
  Result<Ext4Stats> stats = write("small.ext4", options);
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.error().kind(), ErrorKind::kCreateExt4);
  EXPECT_NE(stats.error().message().find("at least " + std::to_string(*needed) + " bytes"),
            std::string::npos)
      << stats.error().message();
  // Nothing was created, not even the temporary file.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(tmp.path()), {}), 0);

  // The size reported is enough: exactly that much works and checks clean.
  options.size_bytes = *needed;
  stats = write("exact.ext4", options);
  ASSERT_TRUE(stats.ok()) << stats.error().describe();
  EXPECT_EQ(stats->min_size_bytes, *needed);
  expect_fsck_clean(tmp / "exact.ext4");
  expect_mount_equal(tmp / "exact.ext4");
}

TEST_F(Ext4WriterTest, AutoSizeAddsModestSlackAndExtraFree) {
  b.file("data", random_bytes(20u << 20, 11));
  Result<Ext4Stats> automatic = write("auto.ext4");
  ASSERT_TRUE(automatic.ok()) << automatic.error().describe();
  EXPECT_GE(automatic->size_bytes, automatic->min_size_bytes);
  EXPECT_LE(automatic->size_bytes,
            automatic->min_size_bytes + automatic->min_size_bytes / 32 + (2u << 20));
  EXPECT_GT(automatic->min_size_bytes, 20u << 20);
  Ext4Options options;
  options.extra_free_bytes = 100u << 20;
  Result<Ext4Stats> roomy = write("roomy.ext4", options);
  ASSERT_TRUE(roomy.ok());
  EXPECT_GE(roomy->free_blocks * 4096, 100u << 20);
  expect_fsck_clean(tmp / "roomy.ext4");
}

// A big directory becomes a two-level htree (more leaves than one dx_root
// holds); many names for one inode also test large link counts.
TEST_F(Ext4WriterTest, TwoLevelHtreeAndManyLinks) {
  tree::InodeId target = b.file("target", "shared");
  b.dir("wide");
  for (int i = 0; i < 9000; ++i) {
    std::string name = std::to_string(i) + std::string(240, 'w');
    b.link("wide/" + name, target);
  }
  ASSERT_TRUE(write("wide.ext4").ok());
  std::string out;
  ASSERT_EQ(run("debugfs -R 'htree wide' '" + tmp / "wide.ext4" + "'", &out), 0);
  EXPECT_NE(out.find("Indirect levels: 1"), std::string::npos) << out.substr(0, 400);
  expect_fsck_clean(tmp / "wide.ext4");
  expect_mount_equal(tmp / "wide.ext4");
}

TEST_F(Ext4WriterTest, WritableWithJournalAndLostFound) {
  build_rich_tree(b);
  Ext4Options options;
  options.journal = true;
  options.lost_and_found = true;
  options.extra_free_bytes = 64u << 20;
  ASSERT_TRUE(write("rw.ext4", options).ok());
  expect_fsck_clean(tmp / "rw.ext4");
  expect_mount_equal(tmp / "rw.ext4", {"lost+found"});
  {
    Mount m(tmp / "rw.ext4", tmp / "rw", "ext4", "loop,rw");
    ASSERT_TRUE(m.ok()) << m.error();
    EXPECT_EQ(run("set -e; cd '" + tmp / "rw" +
                  "'; head -c 10000000 /dev/urandom > new;"
                  " mkdir -p x/y; mv big x/y/; rm -rf d0 sparse-5g; sync"),
              0);
  }
  expect_fsck_clean(tmp / "rw.ext4");
}

TEST_F(Ext4WriterTest, InvalidTreesAreErrors) {
  b.file("ok", "1");
  b.at(b.tree.root()).children["bad/name"] = b.tree.lookup("ok");
  Result<Ext4Stats> stats = write("bad.ext4");
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.error().message().find("bad/name"), std::string::npos) << stats.error().message();

  TreeBuilder empty_link(tmp.path());
  empty_link.symlink("l", "");
  stats = write_ext4(empty_link.tree, empty_link.sources, tmp / "l.ext4", {});
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.error().message().find("/l"), std::string::npos) << stats.error().message();

  TreeBuilder big_xattr(tmp.path());
  tree::InodeId f = big_xattr.file("f", "x");
  big_xattr.at(f).set_xattr("user.big", std::string(5000, 'v'));
  stats = write_ext4(big_xattr.tree, big_xattr.sources, tmp / "x.ext4", {});
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.error().message().find("/f: setting xattr user.big (5000 bytes)"),
            std::string::npos)
      << stats.error().message();

  TreeBuilder links(tmp.path());
  tree::InodeId target = links.file("t", "x");
  for (int i = 0; i < 65000; ++i) links.link("l" + std::to_string(i), target);
  stats = write_ext4(links.tree, links.sources, tmp / "links.ext4", {});
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.error().message().find("65001 hard links"), std::string::npos)
      << stats.error().message();

  Ext4Options options;
  options.label = "seventeen-bytes!!";
  EXPECT_FALSE(write("label.ext4", options).ok());
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(tmp.path()), {}), 0);
}

}  // namespace
}  // namespace vmimage::ext4
