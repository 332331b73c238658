// A store on a full or read-only filesystem (a small tmpfs mounted for the
// test): clear store errors, nothing half-written, the store as it was.
#include <sys/mount.h>

#include "store_test_util.h"

namespace vmimage {
namespace {

using testing::digest_of;
using testing::dir_names;
using testing::layers_of;
using testing::meta_of;
using testing::StoreTest;

// Mounts a tmpfs of `size` on `dir` for the test's lifetime; unmounts even
// when an assertion fails.
class TmpfsMount {
 public:
  TmpfsMount(std::string dir, const std::string& size) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    std::string opts = "size=" + size + ",mode=0755";
    mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, opts.c_str()) == 0;
  }
  ~TmpfsMount() {
    if (mounted_ && ::umount2(dir_.c_str(), 0) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  bool remount(bool read_only) {
    unsigned long flags = MS_REMOUNT | (read_only ? MS_RDONLY : 0);
    return ::mount("tmpfs", dir_.c_str(), "tmpfs", flags, nullptr) == 0;
  }

 private:
  std::string dir_;
  bool mounted_ = false;
};

struct Snapshot {
  std::vector<std::string> blobs, tmp;
  size_t images = 0;
  bool operator==(const Snapshot&) const = default;
};

class SmallFsTest : public StoreTest {
 protected:
  void SetUp() override {
    StoreTest::SetUp();
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a tmpfs";
    mount_ = std::make_unique<TmpfsMount>(dir_ + "/mnt", "2m");
    if (!mount_->mounted()) GTEST_SKIP() << "cannot mount a tmpfs here";
  }
  void TearDown() override {
    mount_.reset();
    StoreTest::TearDown();
  }
  std::string store_dir() const { return dir_ + "/mnt/cache"; }
  Store open_small() {
    StoreOptions options;
    options.cache_dir = store_dir();
    return open_store(options);
  }
  Snapshot snapshot(Store& store) {
    return Snapshot{dir_names(store_dir() + "/blobs"), dir_names(store_dir() + "/tmp"),
                    store.list()->size() + store.list_registry_cache()->size()};
  }
  void populate(Store& store) {
    auto lease = store.begin_lease();
    ASSERT_TRUE(lease.ok());
    testing::put_blob(*lease, "small", 16 * 1024);
    ASSERT_TRUE(store.save("small", layers_of({"small"}), meta_of("small")).ok());
  }
  std::unique_ptr<TmpfsMount> mount_;
};

TEST_F(SmallFsTest, BlobLargerThanTheFreeSpaceFailsCleanly) {
  Store store = open_small();
  populate(store);
  Snapshot before = snapshot(store);

  auto lease = store.begin_lease();
  ASSERT_TRUE(lease.ok());
  auto big = lease->ensure_blob(digest_of("big"), FsType::kErofs,
                                testing::write_content(testing::blob_content("big", 4 << 20)));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().kind(), ErrorKind::kStoreSave);
  EXPECT_EQ(big.error().sys_errno(), ENOSPC);
  EXPECT_NE(big.error().describe().find("No space left on device"), std::string::npos)
      << big.error().describe();
  EXPECT_NE(big.error().describe().find(digest_of("big")), std::string::npos);
  ASSERT_TRUE(lease->release().ok());

  EXPECT_EQ(snapshot(store), before);
  auto report = store.verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->problems.empty());
  EXPECT_TRUE(store.get("small").ok());
  // Once there is room again, writing works.
  auto lease2 = store.begin_lease();
  testing::put_blob(*lease2, "fits", 64 * 1024);
  EXPECT_TRUE(store.save("fits", layers_of({"small", "fits"}), meta_of("fits")).ok());
}

TEST_F(SmallFsTest, FullFilesystemLeavesMetadataConsistent) {
  Store store = open_small();
  populate(store);
  auto lease = store.begin_lease();
  ASSERT_TRUE(lease.ok());
  // Fill every free byte with a file outside the store.
  {
    std::string filler = dir_ + "/mnt/filler";
    int fd = ::open(filler.c_str(), O_WRONLY | O_CREAT, 0644);
    ASSERT_GE(fd, 0);
    std::string chunk(64 * 1024, 'f');
    while (::write(fd, chunk.data(), chunk.size()) > 0) {
    }
    while (::write(fd, chunk.data(), 1) > 0) {
    }
    ::close(fd);
  }
  Snapshot before = snapshot(store);
  auto blob = lease->ensure_blob(digest_of("tiny"), FsType::kErofs,
                                 testing::write_content(testing::blob_content("tiny", 8192)));
  ASSERT_FALSE(blob.ok());
  EXPECT_EQ(blob.error().kind(), ErrorKind::kStoreSave) << blob.error().describe();
  EXPECT_EQ(blob.error().sys_errno(), ENOSPC) << blob.error().describe();
  (void)lease->release();
  // Whether a metadata write still fits in SQLite's free pages or not, it
  // either happens whole or fails with a store error.
  auto another = store.begin_lease();
  if (!another.ok()) {
    EXPECT_EQ(another.error().kind(), ErrorKind::kStoreSave);
    EXPECT_NE(another.error().message().find("database or disk is full"), std::string::npos);
  }
  Status saved = store.save("again", layers_of({"small"}), meta_of("again"));
  if (!saved.ok()) {
    EXPECT_EQ(saved.error().kind(), ErrorKind::kStoreSave);
    EXPECT_EQ(store.get("again").error().kind(), ErrorKind::kImageNotFound);
  }
  EXPECT_EQ(snapshot(store).blobs, before.blobs);
  EXPECT_TRUE(snapshot(store).tmp.empty());
  EXPECT_TRUE(store.verify()->problems.empty());
  EXPECT_TRUE(store.get("small").ok());
  std::filesystem::remove(dir_ + "/mnt/filler");
  Store reopened = open_small();
  EXPECT_TRUE(reopened.gc().ok());
  EXPECT_TRUE(reopened.verify()->problems.empty());
  EXPECT_TRUE(reopened.get("small").ok());
  EXPECT_TRUE(reopened.save("again", layers_of({"small"}), meta_of("again")).ok());
}

TEST_F(SmallFsTest, ReadOnlyStoreReadsButRefusesWrites) {
  {
    Store store = open_small();
    populate(store);
  }
  ASSERT_TRUE(mount_->remount(true));
  {
    auto opened = Store::open(store_dir());
    ASSERT_TRUE(opened.ok()) << opened.error().describe();
    Store& store = *opened;
    auto image = store.get("small");
    ASSERT_TRUE(image.ok()) << image.error().describe();
    EXPECT_EQ(store.list()->size(), 1u);
    EXPECT_TRUE(store.verify()->problems.empty());
    auto lease = store.begin_lease();
    ASSERT_FALSE(lease.ok());
    EXPECT_EQ(lease.error().kind(), ErrorKind::kStoreSave);
    EXPECT_NE(lease.error().message().find("read-only"), std::string::npos);
    Status saved = store.save("x", layers_of({"small"}), meta_of("x"));
    ASSERT_FALSE(saved.ok());
    EXPECT_EQ(saved.error().kind(), ErrorKind::kStoreSave);
    auto removed = store.remove("small");
    ASSERT_FALSE(removed.ok());
    EXPECT_EQ(removed.error().kind(), ErrorKind::kStoreSave);
    EXPECT_EQ(store.gc().error().kind(), ErrorKind::kStoreSave);
  }
  ASSERT_TRUE(mount_->remount(false));
  Store store = open_small();
  EXPECT_EQ(store.list()->size(), 1u);
  EXPECT_TRUE(store.verify()->problems.empty());
}

}  // namespace
}  // namespace vmimage
