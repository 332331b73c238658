// The model's context: a Builder import cancelled from another thread stops at
// its next read, fails with kCancelled and leaves the store as it was (no
// image, no temporary file, no lease). And model parity: save_tag.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

#include "archive_test_support.h"
#include "vmimage/builder.h"

namespace vmimage {
namespace {

namespace at = archive::testing;

struct TempStore {
  TempStore() {
    char tmpl[] = "/tmp/vmimage-cancel.XXXXXX";
    dir = mkdtemp(tmpl);
  }
  ~TempStore() { std::filesystem::remove_all(dir); }
  size_t files_in(const std::string& sub) const {
    std::filesystem::path p = dir + "/" + sub;
    if (!std::filesystem::exists(p)) return 0;
    return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(p), {}));
  }
  std::string dir;
};

// Serves `data` a little at a time, slowly: an archive that takes a while.
ReadFunction slow_reader(const std::string& data, size_t& pos) {
  return [&data, &pos](std::span<std::byte> buf) -> Result<size_t> {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    size_t n = std::min({buf.size(), data.size() - pos, size_t{512}});
    std::memcpy(buf.data(), data.data() + pos, n);
    pos += n;
    return n;
  };
}

TEST(BuilderCancel, ImportCancelledFromAnotherThreadLeavesNothing) {
  TempStore store;
  at::TestImage img = at::sample_image(io::Compression::kGzip, {"example/app:v1"});
  std::string archive = at::write_tar(at::docker_classic({img}));
  ASSERT_GT(archive.size(), 512u * 10);  // more than 100 ms of reading
  BuildOptions options;
  options.cache_dir = store.dir;
  auto builder = Builder::create(options);
  ASSERT_TRUE(builder.ok()) << builder.error().describe();

  size_t pos = 0;
  CancelToken cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    cancel.cancel();
  });
  auto result = builder->import(slow_reader(archive, pos), "app:v1", {}, cancel);
  canceller.join();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().kind(), ErrorKind::kCancelled) << result.error().describe();
  EXPECT_LT(pos, archive.size());  // it stopped reading
  EXPECT_TRUE(builder->store().list()->empty());
  EXPECT_EQ(store.files_in("tmp"), 0u);
  EXPECT_EQ(store.files_in("leases"), 0u);

  // The same import, not cancelled, works; save_tag adds a local tag to it.
  pos = 0;
  auto again = builder->import(slow_reader(archive, pos), "app:v1");
  ASSERT_TRUE(again.ok()) << again.error().describe();
  ASSERT_TRUE(builder->save_tag("app:copy", *again).ok());
  auto copy = builder->store().get("app:copy");
  ASSERT_TRUE(copy.ok());
  EXPECT_EQ(copy->digest, again->digest);
  EXPECT_EQ(copy->lower_paths, again->lower_paths);
  EXPECT_FALSE(builder->save_tag("not a tag", *again).ok());
}

}  // namespace
}  // namespace vmimage
