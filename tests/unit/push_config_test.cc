// The config push publishes: the source's document with rootfs.diff_ids set
// to the EROFS layers' digests, everything else kept (in order).
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

}  // namespace
}  // namespace vmimage::builder
