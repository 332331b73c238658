// The JSON documents of the store's types (store/image_json.h) and the C
// ABI's error kinds: what a binding reads back must round-trip, malformed
// documents from callers are usage errors, and every ErrorKind has its own
// C value with the CLI's name.
#include <gtest/gtest.h>

#include "store/image_json.h"
#include "vmimage/vmimage.h"

namespace vmimage {
namespace {

using namespace std::chrono_literals;

TEST(ImageJson, Rfc3339RoundTripsAndTakesOffsetsAndFractions) {
  TimePoint t = TimePoint(std::chrono::seconds(1714564800));  // 2024-05-01T12:00:00Z
  EXPECT_EQ(store_json::rfc3339(t), "2024-05-01T12:00:00Z");
  EXPECT_EQ(*store_json::parse_rfc3339("2024-05-01T12:00:00Z"), t);
  EXPECT_EQ(*store_json::parse_rfc3339("2024-05-01T14:00:00+02:00"), t);
  EXPECT_EQ(*store_json::parse_rfc3339("2024-05-01T11:30:00.5-00:30"), t + 500ms);
  for (const char* bad : {"", "2024-05-01", "2024-05-01T12:00:00", "2024-05-01T12:00:00Zjunk",
                          "2024-13-01X12:00:00Z", "yyyy-05-01T12:00:00Z"}) {
    Result<TimePoint> r = store_json::parse_rfc3339(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind(), ErrorKind::kUsage);
  }
}

TEST(ImageJson, BuildResultRoundTrips) {
  BuildResult r;
  r.digest = "sha256:" + std::string(64, 'a');
  r.size = 1234;
  r.cached = true;
  r.layers = {{"sha256:" + std::string(64, 'b'), FsType::kExt4, 10, "/s/b.ext4"}};
  r.canonical_layers = {{"sha256:" + std::string(64, 'c'), FsType::kErofs, 20, "/s/c.erofs"}};
  r.lower_paths = {"/s/b.ext4"};
  r.lower_fs_types = {FsType::kExt4};
  r.rootfs_path = "/s/b.ext4";
  r.layer_digests = {r.layers[0].digest};
  r.oci.user = "1000";
  r.oci.cmd = {"/bin/sh", "-c"};
  r.oci.env = {{"A", "1"}};
  std::string text = *store_json::dump(store_json::build_result_json(r));
  Result<BuildResult> back = store_json::build_result_from_json(text);
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(*store_json::dump(store_json::build_result_json(*back)), text);
}

TEST(ImageJson, MalformedDocumentsAreUsageErrors) {
  for (const char* bad : {"not json", "[1]", R"({"size": "big"})", R"({"created_at": "today"})",
                          R"({"source": "thin air"})"}) {
    Result<ImageMeta> r = store_json::meta_from_json(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind(), ErrorKind::kUsage) << bad;
  }
  EXPECT_FALSE(store_json::layers_from_json(R"([{"digest": "x", "fs_type": "xfs"}])").ok());
  EXPECT_FALSE(store_json::layers_from_json(R"({"digest": "x"})").ok());
  EXPECT_FALSE(store_json::build_result_from_json(R"({"layers": [3]})").ok());
  Result<ImageMeta> meta = store_json::meta_from_json(R"({"tag": "a:v1"})");
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->created_at, TimePoint{});  // the store then records the time of saving
}

TEST(ImageJson, NonUtf8TextIsAnErrorNotAnException) {
  LayerRef layer{"sha256:x", FsType::kErofs, 1, std::string("/s/\xff.erofs")};
  Result<std::string> text = store_json::dump(store_json::layer_json(layer));
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().kind(), ErrorKind::kInternal);
}

TEST(CAbi, EveryErrorKindHasItsOwnValueAndName) {
  // vmimage_error_kind counts from 1 in ErrorKind's order.
  for (int k = 0; k <= static_cast<int>(ErrorKind::kPushImage); ++k) {
    auto kind = static_cast<ErrorKind>(k);
    EXPECT_EQ(vmimage_error_kind_name(static_cast<vmimage_error_kind>(k + 1)),
              error_kind_name(kind));
  }
  EXPECT_STREQ(vmimage_error_kind_name(VMIMAGE_OK), "ok");
  EXPECT_STREQ(vmimage_error_kind_name(VMIMAGE_ERR_IMAGE_NOT_FOUND), "image not found");
  // Not a kind, but within the enum's range (C++ allows no value outside it).
  EXPECT_STREQ(vmimage_error_kind_name(static_cast<vmimage_error_kind>(25)), "unknown");
}

TEST(CAbi, ErrorsFillTheCallersStruct) {
  vmimage_error err = VMIMAGE_ERROR_INIT;
  vmimage_build_options* options = vmimage_build_options_new();
  EXPECT_EQ(vmimage_build_options_set(options, "jobs", "0", &err), VMIMAGE_ERR_USAGE);
  EXPECT_EQ(err.kind, VMIMAGE_ERR_USAGE);
  ASSERT_NE(err.message, nullptr);
  EXPECT_NE(std::string(err.message).find("jobs"), std::string::npos);
  // A second failure replaces the first message (no leak under ASan).
  EXPECT_EQ(vmimage_build_options_set(options, "layout", "diagonal", &err), VMIMAGE_ERR_USAGE);
  EXPECT_EQ(vmimage_build_options_set(options, "layout", "auto:2", nullptr), VMIMAGE_OK);
  EXPECT_EQ(vmimage_builder_build(nullptr, "x", nullptr, nullptr, &err), VMIMAGE_ERR_USAGE);
  vmimage_error_clear(&err);
  EXPECT_EQ(err.message, nullptr);
  vmimage_build_options_free(options);
}

}  // namespace
}  // namespace vmimage
