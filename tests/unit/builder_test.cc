// The Builder's pure parts: ChainIDs (image-spec config.md), layout policies and
// the keys of chain-dependent layer blobs.
#include <gtest/gtest.h>

#include "builder/chain.h"
#include "builder/layer_store.h"
#include "vmimage/builder.h"

namespace vmimage {
namespace {

const std::string kA = "sha256:" + std::string(64, 'a');
const std::string kB = "sha256:" + std::string(64, 'b');
const std::string kC = "sha256:" + std::string(64, 'c');

TEST(ChainIds, FollowTheImageSpec) {
  // Expected values computed independently (python hashlib) from the spec's
  // definition: ChainID(n) = sha256(ChainID(n-1) + " " + DiffID(n)).
  std::vector<std::string> chain = builder::chain_ids({kA, kB, kC});
  ASSERT_EQ(chain.size(), 3u);
  EXPECT_EQ(chain[0], kA);
  EXPECT_EQ(chain[1], "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c");
  EXPECT_EQ(chain[2], "sha256:c1377126441fb2f5ec2c21ae2a60255331d639e830f0ee1b40a36e52d4c40588");
  EXPECT_TRUE(builder::chain_ids({}).empty());
}

TEST(LayerContextKey, DiffersFromDiffIdAndChainId) {
  std::vector<std::string> chain = builder::chain_ids({kA, kB});
  std::string bottom = builder::layer_context_key(chain[0]);
  EXPECT_NE(bottom, kA);  // a chain-dependent bottom layer never takes the DiffID key
  EXPECT_NE(builder::layer_context_key(chain[1]), chain[1]);
  EXPECT_NE(builder::layer_context_key(chain[1]), bottom);
  EXPECT_EQ(bottom.rfind("sha256:", 0), 0u);
  EXPECT_EQ(bottom.size(), 71u);
}

TEST(LowerLayout, ParsesThePolicies) {
  EXPECT_EQ(parse_layout("squashed")->kind, LowerLayout::Kind::kSquashed);
  EXPECT_EQ(parse_layout("layered")->kind, LowerLayout::Kind::kLayered);
  Result<LowerLayout> a = parse_layout("auto:3");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, LowerLayout::Kind::kAuto);
  EXPECT_EQ(a->max_lowers, 3u);
  EXPECT_EQ(layout_name(*a), "auto:3");
  for (const char* bad : {"", "auto", "auto:", "auto:0", "auto:-1", "auto:2x", "flat", "Squashed"}) {
    Result<LowerLayout> r = parse_layout(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind(), ErrorKind::kUsage);
  }
}

}  // namespace
}  // namespace vmimage
