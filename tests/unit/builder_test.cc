// The Builder's pure parts: ChainIDs (image-spec config.md), layout policies,
// the keys of chain-dependent layer blobs and stored images' platforms.
#include <gtest/gtest.h>

#include "builder/chain.h"
#include "builder/layer_store.h"
#include "builder/stored_platform.h"
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

constexpr std::string_view kRootfs = R"("rootfs": {"type": "layers", "diff_ids": []})";

// A config document naming `platform` fields (`"os": ..., ...`, or none).
std::string config_of(std::string_view platform) {
  std::string body = "{" + std::string(platform);
  if (!platform.empty()) body += ", ";
  return body + std::string(kRootfs) + "}";
}

ImageMeta meta_with_config(std::string config) {
  ImageMeta meta;
  meta.tag = "example.com/app:v1";
  meta.config = std::move(config);
  return meta;
}

bool serves(const std::string& config, std::string_view want) {
  Result<bool> fits = builder::stored_platform_matches(meta_with_config(config),
                                                       oci::parse_platform(want).value());
  EXPECT_TRUE(fits.ok()) << config;
  return fits.ok() && *fits;
}

TEST(StoredPlatform, ServesOnlyThePlatformItWasStoredFor) {
  const std::string amd64 = config_of(R"("os": "linux", "architecture": "amd64")");
  const std::string arm64 = config_of(R"("os": "linux", "architecture": "arm64")");
  const std::string armv6 = config_of(R"("os": "linux", "architecture": "arm", "variant": "v6")");
  EXPECT_TRUE(serves(amd64, "linux/amd64"));
  EXPECT_FALSE(serves(amd64, "linux/arm64"));
  EXPECT_TRUE(serves(arm64, "linux/arm64"));
  EXPECT_TRUE(serves(arm64, "linux/arm64/v8"));  // arm64's default variant
  EXPECT_TRUE(serves(arm64, "linux/aarch64"));
  EXPECT_FALSE(serves(arm64, "linux/amd64"));
  EXPECT_TRUE(serves(armv6, "linux/arm/v6"));
  EXPECT_FALSE(serves(armv6, "linux/arm"));  // arm means arm/v7
  EXPECT_FALSE(serves(amd64, "windows/amd64"));
}

TEST(StoredPlatform, AnImageThatDoesNotSayServesAny) {
  EXPECT_TRUE(serves("", "linux/arm64"));  // stored before configs were kept
  EXPECT_TRUE(serves(config_of(""), "linux/s390x"));
  Result<std::optional<oci::Platform>> none = builder::stored_platform(meta_with_config(""));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  Result<std::optional<oci::Platform>> some = builder::stored_platform(
      meta_with_config(config_of(R"("os": "Linux", "architecture": "x86_64")")));
  ASSERT_TRUE(some.ok() && some->has_value());
  EXPECT_EQ((*some)->str(), "linux/amd64");
  EXPECT_FALSE(builder::stored_platform(meta_with_config("{not json")).ok());
}

TEST(StoredPlatform, TheIndexEntryItWasChosenBySaysMoreThanItsConfig) {
  // An arm/v6 entry whose config names no variant: it serves v6, not v7.
  ImageMeta meta = meta_with_config(config_of(R"("os": "linux", "architecture": "arm")"));
  meta.platform = "linux/arm/v6";
  auto platform = builder::stored_platform(meta);
  ASSERT_TRUE(platform.ok() && platform->has_value());
  EXPECT_EQ((*platform)->str(), "linux/arm/v6");
  auto want = [](const char* text) { return *oci::parse_platform(text); };
  EXPECT_TRUE(*builder::stored_platform_matches(meta, want("linux/arm/v6")));
  EXPECT_FALSE(*builder::stored_platform_matches(meta, want("linux/arm/v7")));
  meta.platform = "not a platform";
  EXPECT_FALSE(builder::stored_platform(meta).ok());
}

}  // namespace
}  // namespace vmimage
