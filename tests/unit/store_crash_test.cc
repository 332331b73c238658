// Crash safety: a process killed with SIGKILL while producing a blob, between
// the steps of the write protocol, or inside the save transaction leaves a
// store where every operation works, verify is clean and gc removes the leftovers.
#include <csignal>
#include <random>

#include "store_test_util.h"

namespace vmimage {
namespace {

using testing::blob_content;
using testing::digest_of;
using testing::dir_names;
using testing::layers_of;
using testing::meta_of;
using testing::StoreTest;

enum class KillAt { kProducing, kBlobWritten, kBlobRenamed, kSaveInTransaction };

// Tells the parent "stopped here" through the pipe, then waits to be killed.
[[noreturn]] void stop_here(int fd) {
  char c = 'x';
  (void)!::write(fd, &c, 1);
  for (;;) ::pause();
}

class CrashTest : public StoreTest, public ::testing::WithParamInterface<KillAt> {
 protected:
  // Forks a child that saves image "victim" and stops at `at`; kills it there.
  void run_and_kill(KillAt at) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = testing::fork_child([&] {
      ::close(fds[0]);
      StoreOptions options;
      options.cache_dir = cache();
      options.on_step = [&](StoreStep step) {
        if ((step == StoreStep::kBlobWritten && at == KillAt::kBlobWritten) ||
            (step == StoreStep::kBlobRenamed && at == KillAt::kBlobRenamed) ||
            (step == StoreStep::kSaveInTransaction && at == KillAt::kSaveInTransaction)) {
          stop_here(fds[1]);
        }
      };
      auto store = Store::open(options);
      if (!store.ok()) return 1;
      auto lease = store->begin_lease();
      if (!lease.ok()) return 2;
      std::string content = blob_content("victim", 1 << 20);
      auto ref = lease->ensure_blob(
          digest_of("victim"), FsType::kErofs, [&](int fd, const std::string& path) -> Status {
            auto half = std::as_bytes(std::span(content)).first(content.size() / 2);
            VMI_CHECK(write_all(fd, half, path));
            if (at == KillAt::kProducing) stop_here(fds[1]);
            auto rest = std::as_bytes(std::span(content)).subspan(content.size() / 2);
            return write_all(fd, rest, path);
          });
      if (!ref.ok()) return 3;
      (void)store->save("victim", layers_of({"stable", "victim"}), meta_of("victim"));
      return 4;  // never reached: every path stops before
    });
    ::close(fds[1]);
    char c;
    ASSERT_EQ(::read(fds[0], &c, 1), 1) << "the child did not reach the kill point";
    ::close(fds[0]);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    EXPECT_EQ(testing::wait_exit(pid), 128 + SIGKILL);
  }
};

TEST_P(CrashTest, KilledWriterLeavesAWorkingStore) {
  {
    Store store = open_store();
    auto lease = store.begin_lease();
    testing::put_blob(*lease, "stable");
    ASSERT_TRUE(store.save("stable", layers_of({"stable"}), meta_of("stable")).ok());
  }
  run_and_kill(GetParam());

  Store store = open_store();
  auto images = store.list();
  ASSERT_TRUE(images.ok());
  ASSERT_EQ(images->size(), 1u);  // the victim's save never committed
  EXPECT_EQ((*images)[0].tag, "stable");
  EXPECT_EQ(store.get("victim").error().kind(), ErrorKind::kImageNotFound);
  auto before = store.verify();
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE(before->problems.empty());

  auto stats = store.gc();
  ASSERT_TRUE(stats.ok()) << stats.error().describe();
  EXPECT_EQ(stats->leases_reaped, 1u);
  bool temp_left = GetParam() == KillAt::kProducing || GetParam() == KillAt::kBlobWritten;
  EXPECT_EQ(stats->temp_files_removed, temp_left ? 1u : 0u);
  EXPECT_EQ(stats->blobs_removed, temp_left ? 0u : 1u);  // the victim blob, recorded or not
  EXPECT_EQ(dir_names(cache() + "/blobs"),
            std::vector<std::string>{"sha256_" + digest_of("stable").substr(7) + ".erofs"});
  EXPECT_TRUE(dir_names(cache() + "/tmp").empty());
  EXPECT_TRUE(dir_names(cache() + "/leases").empty());
  EXPECT_TRUE(dir_names(cache() + "/locks").empty());

  // The dead writer's lock is gone: the blob can be produced and saved now.
  auto lease = store.begin_lease();
  ASSERT_TRUE(lease.ok());
  LayerRef victim = testing::put_blob(*lease, "victim", 1 << 20);
  ASSERT_TRUE(store.save("victim", layers_of({"stable", "victim"}), meta_of("victim")).ok());
  EXPECT_EQ(testing::read_text(victim.path), blob_content("victim", 1 << 20));
  EXPECT_TRUE(store.verify()->problems.empty());
}

INSTANTIATE_TEST_SUITE_P(AtEachStep, CrashTest,
                         ::testing::Values(KillAt::kProducing, KillAt::kBlobWritten,
                                           KillAt::kBlobRenamed, KillAt::kSaveInTransaction));

// Kills a busy writer at random moments, many times: whatever it was doing,
// the store stays consistent.
TEST_F(StoreTest, RandomKillsDuringWritesAndRemovals) {
  { Store init = open_store(); }
  std::mt19937 rng(12345);
  for (int round = 0; round < 12; ++round) {
    pid_t pid = testing::fork_child([&, round] {
      auto store = Store::open(cache());
      if (!store.ok()) return 1;
      for (int i = 0;; ++i) {
        auto lease = store->begin_lease();
        if (!lease.ok()) return 2;
        std::string name = "r" + std::to_string(round) + "-" + std::to_string(i);
        testing::put_blob(*lease, "common", 256 * 1024);
        testing::put_blob(*lease, name, 128 * 1024);
        if (!store->save(name, layers_of({"common", name}), meta_of(name)).ok()) return 3;
        if (i % 2 == 1)
          (void)store->remove("r" + std::to_string(round) + "-" + std::to_string(i - 1));
      }
    });
    ::usleep(std::uniform_int_distribution<int>(2000, 40000)(rng));
    ::kill(pid, SIGKILL);
    EXPECT_EQ(testing::wait_exit(pid), 128 + SIGKILL) << "the writer failed before being killed";

    Store store = open_store();
    auto images = store.list();
    ASSERT_TRUE(images.ok()) << images.error().describe();
    for (const ImageInfo& info : *images) ASSERT_TRUE(store.get(info.tag).ok());
    auto report = store.verify();
    ASSERT_TRUE(report.ok());
    ASSERT_TRUE(report->problems.empty()) << report->problems[0].detail;
    if (round % 3 == 2) {
      ASSERT_TRUE(store.gc().ok());
    }
  }
  Store store = open_store();
  ASSERT_TRUE(store.gc().ok());
  auto blobs = store.blobs();
  for (const BlobRecord& b : *blobs) EXPECT_GT(b.refcount, 0u);
  EXPECT_EQ(dir_names(cache() + "/blobs").size(), blobs->size());
  EXPECT_TRUE(dir_names(cache() + "/tmp").empty());
  EXPECT_TRUE(dir_names(cache() + "/leases").empty());
  EXPECT_TRUE(store.verify()->problems.empty());
}

}  // namespace
}  // namespace vmimage
