// apply_layer: squash-merging lower-form layer trees with OCI semantics.
#include <gtest/gtest.h>

#include "layer_test_util.h"
#include "tree/merge.h"

namespace vmimage::tree {
namespace {

using testing::LayerInput;
using testing::listing;
using testing::MemorySink;
using V = std::vector<std::string>;

// Builds every layer with the merged tree below as its context, applies it, and
// lists the result. One sink serves all layers, so contents stay readable.
V stack(const std::vector<LayerInput>& layers, bool with_context = true) {
  MemorySink sink;
  Tree merged;
  for (const LayerInput& in : layers) {
    auto layer = testing::build_layer(in, sink, with_context ? &merged : nullptr);
    if (!layer.ok()) return {"error: " + layer.error().describe()};
    Status s = apply_layer(merged, *layer);
    if (!s.ok()) return {"error: " + s.error().describe()};
  }
  return listing(merged, &sink);
}

LayerInput base() {
  LayerInput in;
  in.add(testing::dir_entry("")).dir("d").file("d/a", "a").dir("d/sub").file("d/sub/s", "s");
  in.file("f", "file").file("h1", "shared").add(testing::hardlink_entry("d/h2", "h1"));
  return in;
}

TEST(ApplyLayer, BaseLayerAlone) {
  EXPECT_EQ(stack({base()}),
            (V{"/ d 0755 0:0 0", "d d 0755 0:0 0", "d/a f 0644 0:0 0 'a'",
               "d/h2 f 0644 0:0 0 'shared' =d/h2", "d/sub d 0755 0:0 0", "d/sub/s f 0644 0:0 0 's'",
               "f f 0644 0:0 0 'file'", "h1 f 0644 0:0 0 'shared' =d/h2"}));
}

TEST(ApplyLayer, DirectoryReplacedByFileAndBack) {
  LayerInput up;
  up.file("d", "d is a file").dir("f", 0700).file("f/inside", "i");
  EXPECT_EQ(stack({base(), up}),
            (V{"/ d 0755 0:0 0", "d f 0644 0:0 0 'd is a file'", "f d 0700 0:0 0",
               "f/inside f 0644 0:0 0 'i'", "h1 f 0644 0:0 0 'shared'"}));
}

TEST(ApplyLayer, WhiteoutOfADirectoryRemovesItsSubtree) {
  LayerInput up;
  up.whiteout("d/.wh.sub").whiteout(".wh.f");
  EXPECT_EQ(stack({base(), up}),
            (V{"/ d 0755 0:0 0", "d d 0755 0:0 0", "d/a f 0644 0:0 0 'a'",
               "d/h2 f 0644 0:0 0 'shared' =d/h2", "h1 f 0644 0:0 0 'shared' =d/h2"}));
}

TEST(ApplyLayer, OpaqueDirectoryWithReAddInTheSameLayer) {
  LayerInput up;
  up.file("d/a", "re-added").whiteout("d/.wh..wh..opq").file("d/new", "n");
  EXPECT_EQ(stack({base(), up}),
            (V{"/ d 0755 0:0 0", "d d 0755 0:0 0", "d/a f 0644 0:0 0 're-added'",
               "d/new f 0644 0:0 0 'n'", "f f 0644 0:0 0 'file'", "h1 f 0644 0:0 0 'shared'"}));
}

TEST(ApplyLayer, WhiteoutAndSameNameDirectoryInOneLayer) {
  LayerInput up;
  up.whiteout(".wh.d").file("d/only", "o");  // lower d goes, the layer's d stays
  EXPECT_EQ(stack({base(), up}), (V{"/ d 0755 0:0 0", "d d 0755 0:0 0", "d/only f 0644 0:0 0 'o'",
                                    "f f 0644 0:0 0 'file'", "h1 f 0644 0:0 0 'shared'"}));
}

TEST(ApplyLayer, FileThenDirectoryInOneLayerDeletesTheLowerSubtree) {
  LayerInput up;
  up.file("d", "gone").file("d/new", "n");
  EXPECT_EQ(stack({base(), up}), (V{"/ d 0755 0:0 0", "d d 0755 0:0 0", "d/new f 0644 0:0 0 'n'",
                                    "f f 0644 0:0 0 'file'", "h1 f 0644 0:0 0 'shared'"}));
}

TEST(ApplyLayer, DeletingOneHardlinkNameKeepsTheOther) {
  LayerInput up;
  up.whiteout(".wh.h1");
  EXPECT_EQ(stack({base(), up})[3], "d/h2 f 0644 0:0 0 'shared'");
  LayerInput replace;  // a new file under one name leaves the other on the old inode
  replace.file("h1", "new");
  V got = stack({base(), replace});
  EXPECT_EQ(got[3], "d/h2 f 0644 0:0 0 'shared'");
  EXPECT_EQ(got.back(), "h1 f 0644 0:0 0 'new'");
}

TEST(ApplyLayer, HardlinkGroupsOfALayerSurvive) {
  LayerInput up;
  up.file("x/one", "1").add(testing::hardlink_entry("y/two", "x/one"));
  up.add(testing::hardlink_entry("three", "x/one"));
  V got = stack({base(), up});
  EXPECT_NE(std::find(got.begin(), got.end(), "three f 0644 0:0 0 '1' =three"), got.end());
  EXPECT_NE(std::find(got.begin(), got.end(), "x/one f 0644 0:0 0 '1' =three"), got.end());
  EXPECT_NE(std::find(got.begin(), got.end(), "y/two f 0644 0:0 0 '1' =three"), got.end());
}

TEST(ApplyLayer, UpperDirectoryMetadataWinsAndOverlayXattrsVanish) {
  LayerInput up;
  tar::Entry d = testing::dir_entry("d", 0700);
  d.uid = 1;
  d.xattrs = {{"user.u", "1"}};
  up.add(d).whiteout("d/.wh..wh..opq");
  V got = stack({base(), up});
  EXPECT_EQ(got[1], "d d 0700 1:0 0 {user.u=1}");
  for (const std::string& line : got) {
    EXPECT_EQ(line.find("trusted.overlay"), std::string::npos) << line;
    EXPECT_EQ(line.find(" c 0000"), std::string::npos) << line;
  }
}

TEST(ApplyLayer, ThreeLayers) {
  LayerInput l2;
  l2.whiteout(".wh.d").file("d", "file").whiteout(".wh.f");
  LayerInput l3;
  l3.file("d/back", "dir again").file("f", "f again");
  EXPECT_EQ(stack({base(), l2, l3}),
            (V{"/ d 0755 0:0 0", "d d 0755 0:0 0", "d/back f 0644 0:0 0 'dir again'",
               "f f 0644 0:0 0 'f again'", "h1 f 0644 0:0 0 'shared'"}));
}

TEST(ApplyLayer, WithoutContextAWhiteoutOfNothingIsHarmless) {
  LayerInput up;
  up.whiteout("new/.wh.ghost");
  V got = stack({base(), up}, false);
  EXPECT_NE(std::find(got.begin(), got.end(), "new d 0755 0:0 0"), got.end());
  for (const std::string& line : got) EXPECT_EQ(line.find("ghost"), std::string::npos);
}

TEST(ApplyLayer, SourceMapRemapsExtents) {
  Tree layer;
  Inode f;
  f.data.size = 10;
  f.data.body = Extent{1, 0, 8};
  f.data.tail = Extent{0, 100, 2};
  layer.inode(layer.root()).children["f"] = layer.add(f);
  Tree merged;
  MergeOptions opts;
  opts.source_map = {7, 9};
  ASSERT_TRUE(apply_layer(merged, layer, opts).ok());
  const Inode& got = merged.inode(merged.lookup("f"));
  EXPECT_EQ(got.data.body.source, 9u);
  EXPECT_EQ(got.data.tail.source, 7u);
  opts.source_map = {7};
  Tree again;
  Status s = apply_layer(again, layer, opts);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind(), ErrorKind::kInternal);
}

}  // namespace
}  // namespace vmimage::tree
