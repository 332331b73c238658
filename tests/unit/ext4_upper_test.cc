// Overlay upper disks: a 1 TiB upper is created quickly and sparsely, checks
// clean, and works as an overlayfs upper over an ext4 lower written by
// write_ext4 (writes, copy-ups, deletes, renames), staying clean afterwards.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "ext4_test_util.h"
#include "fs/ext4/upper.h"
#include "fs/ext4/writer.h"

namespace vmimage::ext4 {
namespace {

using testing::Mount;
using testing::run;
using testing::TempDir;
using testing::TreeBuilder;

constexpr uint64_t kTiB = uint64_t{1} << 40;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class Ext4UpperTest : public ::testing::Test {
 protected:
  TempDir tmp;

  void expect_fsck_clean(const std::string& image) {
    std::string out;
    EXPECT_EQ(run("e2fsck -fn '" + image + "'", &out), 0) << out;
  }
};

TEST_F(Ext4UpperTest, OneTebibyteIsFastSparseAndClean) {
  UpperOptions options;
  options.size_bytes = kTiB;
  auto start = std::chrono::steady_clock::now();
  Result<Ext4Stats> stats = create_upper(tmp / "upper.ext4", options);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(stats.ok()) << stats.error().describe();
  uint64_t on_disk = testing::disk_blocks(tmp / "upper.ext4") * 512;
  // Reported, not asserted: timing depends on the machine.
  std::printf("1 TiB upper: created in %.3f s, %llu KiB on disk, %llu inodes\n", seconds,
              static_cast<unsigned long long>(on_disk >> 10),
              static_cast<unsigned long long>(stats->inodes));
  RecordProperty("create_seconds", std::to_string(seconds));
  EXPECT_EQ(std::filesystem::file_size(tmp / "upper.ext4"), kTiB);
  EXPECT_EQ(stats->size_bytes, kTiB);
  EXPECT_LT(on_disk, 64u << 20);
  EXPECT_GE(stats->inodes, kTiB / 16384 - 65536);
  expect_fsck_clean(tmp / "upper.ext4");
  std::string out;
  ASSERT_EQ(run("dumpe2fs -h '" + tmp / "upper.ext4" + "'", &out), 0);
  EXPECT_NE(out.find("has_journal"), std::string::npos);
  EXPECT_NE(out.find("metadata_csum"), std::string::npos);
  EXPECT_EQ(out.find("metadata_csum_seed"), std::string::npos);
  ASSERT_EQ(run("debugfs -R 'ls -l /' '" + tmp / "upper.ext4" + "'", &out), 0);
  for (const char* name : {"upper", "work", "lost+found"}) {
    EXPECT_NE(out.find(name), std::string::npos) << out;
  }
}

TEST_F(Ext4UpperTest, OverlayOverExt4LowerAcceptsChanges) {
  ASSERT_TRUE(testing::running_as_root()) << "overlay tests need root";
  TreeBuilder lower(tmp.path());
  lower.file("keep", "lower keep\n");
  lower.file("edit", "lower edit\n");
  lower.file("remove", "gone soon\n");
  lower.dir("dir");
  lower.file("dir/inner", "inner\n");
  lower.dir("emptied");
  lower.file("emptied/x", "x\n");
  ASSERT_TRUE(write_ext4(lower.tree, lower.sources, tmp / "lower.ext4", {}).ok());
  UpperOptions options;
  options.size_bytes = kTiB;
  ASSERT_TRUE(create_upper(tmp / "upper.ext4", options).ok());
  {
    Mount lo(tmp / "lower.ext4", tmp / "lower", "ext4", "loop,ro");
    ASSERT_TRUE(lo.ok()) << lo.error();
    Mount up(tmp / "upper.ext4", tmp / "up", "ext4", "loop,rw");
    ASSERT_TRUE(up.ok()) << up.error();
    std::string merged = tmp / "merged";
    std::string opts = "lowerdir=" + tmp / "lower" + ",upperdir=" + tmp / "up/upper" +
                       ",workdir=" + tmp / "up/work";
    {
      Mount ov("overlay", merged, "overlay", opts);
      ASSERT_TRUE(ov.ok()) << ov.error();
      std::string script = "set -e; cd '" + merged +
                           "';"
                           " echo new > created; echo changed >> edit; rm remove;"
                           " mv keep kept; mv dir renamed; rm -r emptied; mkdir -p a/b;"
                           " head -c 5000000 /dev/urandom > a/b/big; sync";
      std::string out;
      ASSERT_EQ(run(script, &out), 0) << out;
    }
    // Remounted, the overlay shows the changes; the lower is untouched.
    Mount ov("overlay", merged, "overlay", opts);
    ASSERT_TRUE(ov.ok()) << ov.error();
    EXPECT_EQ(read_file(merged + "/created"), "new\n");
    EXPECT_EQ(read_file(merged + "/edit"), "lower edit\nchanged\n");
    EXPECT_EQ(read_file(merged + "/kept"), "lower keep\n");
    EXPECT_EQ(read_file(merged + "/renamed/inner"), "inner\n");
    EXPECT_FALSE(std::filesystem::exists(merged + "/remove"));
    EXPECT_FALSE(std::filesystem::exists(merged + "/keep"));
    EXPECT_FALSE(std::filesystem::exists(merged + "/emptied"));
    EXPECT_EQ(std::filesystem::file_size(merged + "/a/b/big"), 5000000u);
    EXPECT_EQ(read_file(tmp / "lower/remove"), "gone soon\n");
    // The deletion is a whiteout (0:0 character device) in the upper.
    struct stat st {};
    ASSERT_EQ(::lstat((tmp / "up/upper/remove").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_rdev, 0u);
  }
  expect_fsck_clean(tmp / "upper.ext4");
  expect_fsck_clean(tmp / "lower.ext4");
}

TEST_F(Ext4UpperTest, DeterministicAndValidated) {
  UpperOptions options;
  options.size_bytes = 64u << 20;
  ASSERT_TRUE(create_upper(tmp / "a.ext4", options).ok());
  ASSERT_TRUE(create_upper(tmp / "b.ext4", options).ok());
  EXPECT_EQ(run("cmp '" + tmp / "a.ext4" + "' '" + tmp / "b.ext4" + "'"), 0);
  options.label = "other";
  Result<Ext4Stats> labelled = create_upper(tmp / "c.ext4", options);
  ASSERT_TRUE(labelled.ok());
  Result<Ext4Stats> first = create_upper(tmp / "a.ext4", UpperOptions{.size_bytes = 64u << 20});
  ASSERT_TRUE(first.ok());
  EXPECT_NE(labelled->uuid, first->uuid);

  options.size_bytes = 0;
  EXPECT_FALSE(create_upper(tmp / "zero.ext4", options).ok());
  options.size_bytes = 1u << 20;
  Result<Ext4Stats> tiny = create_upper(tmp / "tiny.ext4", options);
  ASSERT_FALSE(tiny.ok());
  EXPECT_NE(tiny.error().message().find("too small"), std::string::npos) << tiny.error().message();
  EXPECT_FALSE(std::filesystem::exists(tmp / "tiny.ext4"));
}

}  // namespace
}  // namespace vmimage::ext4
