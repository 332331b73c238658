// The config push publishes: the source's document with rootfs.diff_ids set
// to the EROFS layers' digests, everything else kept (in order); and the
// `push --json` document, with an index push's additions.
#include <gtest/gtest.h>

#include "builder/push.h"

namespace vmimage::builder {
namespace {

constexpr const char* kSource =
    R"({"created":"2024-01-01T00:00:00Z","architecture":"amd64","os":"linux",)"
    R"("config":{"User":"1000","Env":["A=1"]},)"
    R"("rootfs":{"type":"layers","diff_ids":["sha256:aa","sha256:bb"]},)"
    R"("history":[{"created_by":"one"},{"created_by":"two"}]})";

TEST(PushConfig, ReplacesTheDiffIdsAndKeepsTheRest) {
  auto c = converted_config(kSource, {"sha256:11", "sha256:22"}, false);
  ASSERT_TRUE(c.ok()) << c.error().describe();
  EXPECT_EQ(*c, R"({"created":"2024-01-01T00:00:00Z","architecture":"amd64","os":"linux",)"
                R"("config":{"User":"1000","Env":["A=1"]},)"
                R"("rootfs":{"type":"layers","diff_ids":["sha256:11","sha256:22"]},)"
                R"("history":[{"created_by":"one"},{"created_by":"two"}]})");
}

TEST(PushConfig, SquashedLeavesOutTheHistoryThatNoLongerMatches) {
  auto c = converted_config(kSource, {"sha256:99"}, true);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, R"({"created":"2024-01-01T00:00:00Z","architecture":"amd64","os":"linux",)"
                R"("config":{"User":"1000","Env":["A=1"]},)"
                R"("rootfs":{"type":"layers","diff_ids":["sha256:99"]}})");
}

TEST(PushConfig, RefusesWhatIsNotAnObject) {
  EXPECT_EQ(converted_config("[1]", {}, false).error().kind(), ErrorKind::kPushImage);
  EXPECT_EQ(converted_config("{", {}, false).error().kind(), ErrorKind::kPushImage);
}

PushResult one_manifest(const std::string& digest) {
  PushResult r;
  r.reference = "example.com/app@" + digest;
  r.digest = digest;
  r.layers = {PushedBlob{"sha256:11", 4096, true, false}};
  r.config = PushedBlob{"sha256:cc", 100, false, false};
  return r;
}

TEST(PushJson, AnIndexOnlyWhenOneWasPushed) {
  PushOptions options;
  nlohmann::ordered_json plain = push_result_json(one_manifest("sha256:a1"), options);
  EXPECT_EQ(plain["digest"], "sha256:a1");
  EXPECT_FALSE(plain.contains("index"));

  PushResult pushed = one_manifest("sha256:a1");
  PushedIndex index{"example.com/app:v1", "sha256:1d", 700, {}};
  index.platforms.push_back(PushedPlatform{"linux/amd64", "app:amd64", "example.com/app@sha256:a1",
                                           "sha256:a1", 1000, pushed.layers, pushed.config});
  pushed.index = index;
  nlohmann::ordered_json doc = push_result_json(pushed, options);
  EXPECT_EQ(doc["digest"], "sha256:a1");  // SRC's own manifest, as without an index
  EXPECT_EQ(doc["index"]["reference"], "example.com/app:v1");
  EXPECT_EQ(doc["index"]["digest"], "sha256:1d");
  EXPECT_EQ(doc["index"]["size"], 700);
  ASSERT_EQ(doc["index"]["platforms"].size(), 1u);
  const nlohmann::ordered_json& p = doc["index"]["platforms"][0];
  EXPECT_EQ(p["platform"], "linux/amd64");
  EXPECT_EQ(p["image"], "app:amd64");
  EXPECT_EQ(p["digest"], "sha256:a1");
  EXPECT_EQ(p["layers"][0]["uploaded"], true);
  EXPECT_EQ(p["config"]["digest"], "sha256:cc");
}

}  // namespace
}  // namespace vmimage::builder
