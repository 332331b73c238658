// LayerBuilder: one test per OCI / tar rule (see the rule list in layer_builder.h).
#include <gtest/gtest.h>

#include "layer_test_util.h"
#include "tree/merge.h"

namespace vmimage::tree {
namespace {

using testing::LayerInput;
using testing::listing;
using testing::MemorySink;
using V = std::vector<std::string>;

V build(const LayerInput& in, const Tree* lower = nullptr, bool* context_used = nullptr,
        LayerOptions options = {}) {
  MemorySink sink;
  auto t = testing::build_layer(in, sink, lower, options, context_used);
  if (!t.ok()) return {"error: " + t.error().describe()};
  return listing(*t, &sink);
}

std::string build_error(const LayerInput& in, const Tree* lower = nullptr) {
  MemorySink sink;
  auto t = testing::build_layer(in, sink, lower);
  if (t.ok()) return "<no error>";
  EXPECT_EQ(t.error().kind(), ErrorKind::kTarball);
  return t.error().describe();
}

TEST(LayerBuilder, MissingParentsAndRootAreImplicit) {
  LayerInput in;
  in.file("a/b/c", "x", 0600);
  EXPECT_EQ(build(in),
            (V{"/ d 0755 0:0 0", "a d 0755 0:0 0", "a/b d 0755 0:0 0", "a/b/c f 0600 0:0 0 'x'"}));
}

TEST(LayerBuilder, RootEntrySetsRootMetadata) {
  LayerInput in;
  tar::Entry root = testing::dir_entry("", 0700);
  root.uid = 7;
  root.mtime_sec = 99;
  in.file("f", "1").add(root);
  EXPECT_EQ(build(in), (V{"/ d 0700 7:0 99", "f f 0644 0:0 0 '1'"}));
  LayerInput bad;
  bad.add(testing::entry("", tar::EntryType::kRegular));
  EXPECT_NE(build_error(bad).find("root can only be a directory"), std::string::npos);
}

TEST(LayerBuilder, AllTypes) {
  LayerInput in;
  tar::Entry chr = testing::entry("dev/null", tar::EntryType::kCharDevice, 0666);
  chr.rdev_major = 1;
  chr.rdev_minor = 3;
  tar::Entry blk = testing::entry("dev/sda", tar::EntryType::kBlockDevice, 0660);
  blk.rdev_major = 8;
  in.add(chr).add(blk).add(testing::entry("fifo", tar::EntryType::kFifo));
  in.add(testing::symlink_entry("dangling", "/no/where"));
  in.add(testing::entry("sock", tar::EntryType::kSocket, 0755));
  EXPECT_EQ(build(in), (V{"/ d 0755 0:0 0", "dangling l 0777 0:0 0 ->/no/where", "dev d 0755 0:0 0",
                          "dev/null c 0666 0:0 0 1:3", "dev/sda b 0660 0:0 0 8:0",
                          "fifo p 0644 0:0 0", "sock s 0755 0:0 0"}));
}

TEST(LayerBuilder, LaterEntryWins) {
  LayerInput in;
  in.file("x", "old").file("x", "new");
  in.dir("d").file("d/child", "c").file("d", "now a file");     // file replaces a subtree
  in.file("f", "was a file").dir("f", 0700).file("f/in", "i");  // dir replaces a file
  // The re-created directory is opaque: the file entry had deleted what the lower
  // layers had at "f".
  EXPECT_EQ(build(in), (V{"/ d 0755 0:0 0", "d f 0644 0:0 0 'now a file'",
                          "f d 0700 0:0 0 {trusted.overlay.opaque=y}", "f/in f 0644 0:0 0 'i'",
                          "x f 0644 0:0 0 'new'"}));
}

TEST(LayerBuilder, DirectoryAfterItsChildrenOnlyUpdatesMetadata) {
  LayerInput in;
  tar::Entry d = testing::dir_entry("d", 0750);
  d.uid = 1000;
  d.gid = 1001;
  d.mtime_sec = 5;
  d.xattrs = {{"user.k", "v"}};
  in.file("d/a", "a").dir("d/sub").add(d);
  EXPECT_EQ(build(in), (V{"/ d 0755 0:0 0", "d d 0750 1000:1001 5 {user.k=v}",
                          "d/a f 0644 0:0 0 'a'", "d/sub d 0755 0:0 0"}));
}

TEST(LayerBuilder, NonDirectoryInTheWayOfAParentIsReplaced) {
  LayerInput in;
  in.file("a", "file").file("a/b", "under");
  EXPECT_EQ(build(in), (V{"/ d 0755 0:0 0", "a d 0755 0:0 0 {trusted.overlay.opaque=y}",
                          "a/b f 0644 0:0 0 'under'"}));
}

TEST(LayerBuilder, WhiteoutsBecomeZeroZeroCharDevices) {
  LayerInput in;
  tar::Entry wh = testing::entry("etc/.wh.passwd", tar::EntryType::kRegular);
  wh.mtime_sec = 42;
  wh.uid = 5;
  in.add(wh).whiteout(".wh.top");
  EXPECT_EQ(build(in), (V{"/ d 0755 0:0 0", "etc d 0755 0:0 0", "etc/passwd c 0000 0:0 42 0:0",
                          "top c 0000 0:0 0 0:0"}));
}

TEST(LayerBuilder, OpaqueMarkerSetsTheXattr) {
  LayerInput in;
  in.file("keep/x", "x").whiteout("keep/.wh..wh..opq").whiteout("new/.wh..wh..opq");
  EXPECT_EQ(build(in),
            (V{"/ d 0755 0:0 0", "keep d 0755 0:0 0 {trusted.overlay.opaque=y}",
               "keep/x f 0644 0:0 0 'x'", "new d 0755 0:0 0 {trusted.overlay.opaque=y}"}));
}

TEST(LayerBuilder, RealEntryBeatsWhiteoutInEitherOrder) {
  LayerInput in;
  in.whiteout("a/.wh.f").file("a/f", "after").file("b/f", "before").whiteout("b/.wh.f");
  EXPECT_EQ(build(in), (V{"/ d 0755 0:0 0", "a d 0755 0:0 0", "a/f f 0644 0:0 0 'after'",
                          "b d 0755 0:0 0", "b/f f 0644 0:0 0 'before'"}));
}

TEST(LayerBuilder, WhiteoutPlusDirectoryMakesItOpaque) {
  LayerInput in;
  in.whiteout(".wh.d").file("d/new", "n");
  EXPECT_EQ(build(in), (V{"/ d 0755 0:0 0", "d d 0755 0:0 0 {trusted.overlay.opaque=y}",
                          "d/new f 0644 0:0 0 'n'"}));
}

TEST(LayerBuilder, WhiteoutsInsideOpaqueDirsAreDropped) {
  for (bool marker_first : {true, false}) {
    LayerInput in;
    if (marker_first) in.whiteout("o/.wh..wh..opq");
    in.whiteout("o/.wh.gone").whiteout("o/deep/.wh.gone");
    if (!marker_first) in.whiteout("o/.wh..wh..opq");
    in.whiteout("p/.wh.stays");
    EXPECT_EQ(build(in), (V{"/ d 0755 0:0 0", "o d 0755 0:0 0 {trusted.overlay.opaque=y}",
                            "o/deep d 0755 0:0 0", "p d 0755 0:0 0", "p/stays c 0000 0:0 0 0:0"}))
        << marker_first;
  }
}

TEST(LayerBuilder, WhiteoutWhoseDirectoryWasReplacedIsDropped) {
  LayerInput in;
  in.whiteout("d/.wh.x").file("d", "file now");
  EXPECT_EQ(build(in), (V{"/ d 0755 0:0 0", "d f 0644 0:0 0 'file now'"}));
}

TEST(LayerBuilder, NoWhiteoutNameIsEverStored) {
  LayerInput in;
  in.whiteout("a/.wh..wh.plnk").whiteout(".wh..wh.aufs");  // skipped, parents too
  in.file(".wh..wh.plnk/123.456", "aufs hardlink store").dir(".wh..wh.plnk");
  EXPECT_EQ(build(in), (V{"/ d 0755 0:0 0"}));
  LayerInput dir_use;
  dir_use.file("a/.wh.b/c", "x");
  EXPECT_NE(build_error(dir_use).find("used as a directory"), std::string::npos);
  LayerInput too_long;
  too_long.file("d/" + std::string(256, 'n') + "/f", "x");
  EXPECT_NE(build_error(too_long).find("more than the 255"), std::string::npos);
  LayerInput empty;
  empty.whiteout("a/.wh.");
  EXPECT_NE(build_error(empty).find("whiteout without a name"), std::string::npos);
}

TEST(LayerBuilder, HardlinksShareTheInodeAcrossDirectories) {
  LayerInput in;
  in.file("bin/tool", "exe", 0755).add(testing::hardlink_entry("usr/bin/alias", "bin/tool"));
  in.add(testing::hardlink_entry("bin/again", "usr/bin/alias"));
  EXPECT_EQ(build(in),
            (V{"/ d 0755 0:0 0", "bin d 0755 0:0 0", "bin/again f 0755 0:0 0 'exe' =bin/again",
               "bin/tool f 0755 0:0 0 'exe' =bin/again", "usr d 0755 0:0 0", "usr/bin d 0755 0:0 0",
               "usr/bin/alias f 0755 0:0 0 'exe' =bin/again"}));
}

TEST(LayerBuilder, HardlinkEntryMetadataIsIgnored) {
  LayerInput in;
  tar::Entry link = testing::hardlink_entry("b", "a");
  link.mode = 0600;
  link.uid = 9;
  in.file("a", "x").add(link);
  EXPECT_EQ(build(in), (V{"/ d 0755 0:0 0", "a f 0644 0:0 0 'x' =a", "b f 0644 0:0 0 'x' =a"}));
}

TEST(LayerBuilder, HardlinkKeepsTheOldInodeWhenItsTargetIsReplaced) {
  LayerInput in;
  in.file("a", "v1").add(testing::hardlink_entry("b", "a")).file("a", "v2");
  EXPECT_EQ(build(in), (V{"/ d 0755 0:0 0", "a f 0644 0:0 0 'v2'", "b f 0644 0:0 0 'v1'"}));
}

TEST(LayerBuilder, HardlinkErrorsNameBothPaths) {
  LayerInput missing;
  missing.add(testing::hardlink_entry("link", "never/there"));
  std::string msg = build_error(missing);
  EXPECT_NE(msg.find("'link'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'never/there'"), std::string::npos) << msg;
  LayerInput later;  // the target appears only after the link
  later.add(testing::hardlink_entry("link", "t")).file("t", "x");
  EXPECT_NE(build_error(later).find("does not exist"), std::string::npos);
  LayerInput dir;
  dir.dir("d").add(testing::hardlink_entry("link", "d"));
  EXPECT_NE(build_error(dir).find("is a directory"), std::string::npos);
  LayerInput whiteout;  // a whiteout is not a file of this layer
  whiteout.whiteout(".wh.w").add(testing::hardlink_entry("link", "w"));
  EXPECT_NE(build_error(whiteout).find("does not exist"), std::string::npos);
}

TEST(LayerBuilder, OverlayXattrsFromTheTarAreDropped) {
  LayerInput in;
  tar::Entry d = testing::dir_entry("d");
  d.xattrs = {{"trusted.overlay.opaque", "y"}, {"trusted.x", "1"}, {"user.y", "2"}};
  in.add(d);
  EXPECT_EQ(build(in), (V{"/ d 0755 0:0 0", "d d 0755 0:0 0 {trusted.x=1} {user.y=2}"}));
}

TEST(LayerBuilder, MtimeOverrideCoversEveryInode) {
  LayerInput in;
  tar::Entry f = testing::entry("a/f", tar::EntryType::kRegular);
  f.mtime_sec = 123;
  f.mtime_nsec = 456;
  in.add(f).whiteout("a/.wh.w");
  LayerOptions opts;
  opts.mtime = 1000;
  MemorySink sink;
  auto t = testing::build_layer(in, sink, nullptr, opts);
  ASSERT_TRUE(t.ok());
  for (InodeId id : reachable_inodes(*t)) {
    EXPECT_EQ(t->inode(id).mtime_sec, 1000);
    EXPECT_EQ(t->inode(id).mtime_nsec, 0u);
  }
}

TEST(LayerBuilder, SparseDataReachesTheSinkWithHoles) {
  MemorySink sink;
  LayerBuilder b(sink);
  tar::Entry e = testing::entry("sparse", tar::EntryType::kRegular);
  e.size = 20;
  testing::BlockData data({{3, "abc"}, {10, "xy"}});
  ASSERT_TRUE(b.add(e, data).ok());
  auto t = b.finish();
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(sink.content(t->inode(t->lookup("sparse")).data),
            std::string("\0\0\0abc\0\0\0\0xy\0\0\0\0\0\0\0\0", 20));
}

// --- LowerContext ---------------------------------------------------------------

Tree lower_tree() {
  LayerInput in;
  tar::Entry root = testing::dir_entry("", 0711);
  root.mtime_sec = 10;
  tar::Entry etc = testing::dir_entry("etc", 0750);
  etc.uid = 3;
  etc.mtime_sec = 20;
  etc.xattrs = {{"user.dir", "meta"}};
  in.add(root).add(etc).file("etc/passwd", "p").file("etc/group", "g").file("plain", "f");
  in.dir("var").dir("var/lib").file("var/lib/db", "d");
  MemorySink sink;
  Tree merged;
  EXPECT_TRUE(apply_layer(merged, *testing::build_layer(in, sink)).ok());
  return merged;
}

TEST(LayerBuilder, ContextGivesImplicitDirectoriesTheLowerMetadata) {
  Tree lower = lower_tree();
  LayerInput in;
  in.file("etc/new", "n").file("plain/x", "dir now");
  bool used = false;
  EXPECT_EQ(build(in, &lower, &used),
            (V{"/ d 0711 0:0 10", "etc d 0750 3:0 20 {user.dir=meta}", "etc/new f 0644 0:0 0 'n'",
               "plain d 0755 0:0 0", "plain/x f 0644 0:0 0 'dir now'"}));
  EXPECT_TRUE(used);
}

TEST(LayerBuilder, ContextDropsWhiteoutsOfPathsNotBelow) {
  Tree lower = lower_tree();
  LayerInput in;
  tar::Entry root = testing::dir_entry("", 0711);
  root.mtime_sec = 10;
  in.add(root).whiteout(".wh.plain").whiteout(".wh.ghost").whiteout("etc/.wh.nothere");
  bool used = false;
  EXPECT_EQ(build(in, &lower, &used),
            (V{"/ d 0711 0:0 10", "etc d 0750 3:0 20 {user.dir=meta}", "plain c 0000 0:0 0 0:0"}));
  EXPECT_TRUE(used);
}

TEST(LayerBuilder, ContextUnusedWhenEverythingIsExplicit) {
  Tree lower = lower_tree();
  LayerInput in;
  in.add(testing::dir_entry("")).dir("etc").file("etc/x", "x").whiteout("etc/.wh.passwd");
  bool used = true;
  EXPECT_EQ(build(in, &lower, &used), (V{"/ d 0755 0:0 0", "etc d 0755 0:0 0",
                                         "etc/passwd c 0000 0:0 0 0:0", "etc/x f 0644 0:0 0 'x'"}));
  EXPECT_FALSE(used);
}

TEST(LayerBuilder, ImplicitDirectoriesUnderDeletedPathsAreNew) {
  Tree lower = lower_tree();
  // var is whited out and var/lib re-created through a child: both are new
  // directories; etc is opaque, so an implicit etc/... would be new as well.
  LayerInput in;
  in.add(testing::dir_entry("", 0711)).whiteout(".wh.var").file("var/lib/fresh", "f");
  in.whiteout("etc/.wh..wh..opq").file("etc/sub/x", "x");
  bool used = false;
  V got = build(in, &lower, &used);
  EXPECT_EQ(got,
            (V{"/ d 0711 0:0 0", "etc d 0750 3:0 20 {trusted.overlay.opaque=y} {user.dir=meta}",
               "etc/sub d 0755 0:0 0", "etc/sub/x f 0644 0:0 0 'x'",
               "var d 0755 0:0 0 {trusted.overlay.opaque=y}", "var/lib d 0755 0:0 0",
               "var/lib/fresh f 0644 0:0 0 'f'"}));
  EXPECT_TRUE(used);  // etc kept the lower metadata
}

TEST(LayerBuilder, DirectoryReCreatedAfterAFileOfTheLayerIsNewAndOpaque) {
  Tree lower = lower_tree();
  LayerInput in;
  in.add(testing::dir_entry("", 0711)).file("etc", "file").file("etc/x", "x");
  in.file("var", "file").dir("var", 0700);
  bool used = false;
  EXPECT_EQ(build(in, &lower, &used),
            (V{"/ d 0711 0:0 0", "etc d 0755 0:0 0 {trusted.overlay.opaque=y}",
               "etc/x f 0644 0:0 0 'x'", "var d 0700 0:0 0 {trusted.overlay.opaque=y}"}));
  EXPECT_FALSE(used);
}

TEST(LayerBuilder, OpaqueRootWithoutContextMakesTopLevelDirsOpaque) {
  LayerInput in;
  in.whiteout(".wh..wh..opq").file("etc/x", "x").file("top", "t").whiteout("etc/.wh.y");
  in.whiteout(".wh.gone");
  EXPECT_EQ(build(in),
            (V{"/ d 0755 0:0 0", "etc d 0755 0:0 0 {trusted.overlay.opaque=y}",
               "etc/x f 0644 0:0 0 'x'", "gone c 0000 0:0 0 0:0", "top f 0644 0:0 0 't'"}));
}

TEST(LayerBuilder, OpaqueRootWithContextWhitesOutTheLowerRoot) {
  Tree lower = lower_tree();
  LayerInput in;
  tar::Entry marker = testing::entry(".wh..wh..opq", tar::EntryType::kRegular);
  marker.mtime_sec = 77;
  in.add(marker).file("etc/x", "x").file("newtop", "t");
  bool used = false;
  EXPECT_EQ(
      build(in, &lower, &used),
      (V{"/ d 0711 0:0 10", "etc d 0755 0:0 0 {trusted.overlay.opaque=y}", "etc/x f 0644 0:0 0 'x'",
         "newtop f 0644 0:0 0 't'", "plain c 0000 0:0 77 0:0", "var c 0000 0:0 77 0:0"}));
  EXPECT_TRUE(used);
  // Squashed, the layer leaves exactly its own content.
  MemorySink sink;
  Tree merged = lower_tree();
  auto layer = testing::build_layer(in, sink, &merged);
  ASSERT_TRUE(layer.ok());
  ASSERT_TRUE(apply_layer(merged, *layer).ok());
  EXPECT_EQ(listing(merged, &sink), (V{"/ d 0711 0:0 10", "etc d 0755 0:0 0",
                                       "etc/x f 0644 0:0 0 'x'", "newtop f 0644 0:0 0 't'"}));
}

}  // namespace
}  // namespace vmimage::tree
