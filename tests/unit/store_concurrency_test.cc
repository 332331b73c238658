// Many processes (and threads) on one store: a blob asked for by all of them
// is produced once; gc looping beside them never removes a blob that a writer
// is producing or is about to reference; afterwards verify is clean.
#include <atomic>
#include <map>
#include <thread>

#include "store_test_util.h"

namespace vmimage {
namespace {

using testing::blob_content;
using testing::digest_of;
using testing::layers_of;
using testing::meta_of;
using testing::StoreTest;

// A producer that records each production in a log (O_APPEND lines are atomic)
// and writes slowly, to hold the race windows open.
BlobProducer logged_producer(const std::string& log, const std::string& name, int delay_us) {
  return [=](int fd, const std::string& path) -> Status {
    int log_fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (log_fd < 0) return Error(ErrorKind::kIo, "opening log");
    std::string line = name + "\n";
    ssize_t n = ::write(log_fd, line.data(), line.size());
    ::close(log_fd);
    if (n != static_cast<ssize_t>(line.size())) return Error(ErrorKind::kIo, "writing log");
    std::string content = blob_content(name, 64 * 1024);
    for (size_t off = 0; off < content.size(); off += 16 * 1024) {
      VMI_CHECK(
          pwrite_all(fd, std::as_bytes(std::span(content).subspan(off, 16 * 1024)), off, path));
      ::usleep(delay_us);
    }
    return {};
  };
}

int count_lines(const std::string& log, const std::string& name) {
  std::stringstream in(testing::read_text(log));
  int n = 0;
  for (std::string line; std::getline(in, line);) n += line == name;
  return n;
}

int worker(const std::string& cache, const std::string& log, int id, int rounds) {
  auto store = Store::open(cache);
  if (!store.ok()) return 10;
  for (int r = 0; r < rounds; ++r) {
    auto lease = store->begin_lease();
    if (!lease.ok()) {
      fprintf(stderr, "worker %d: %s\n", id, lease.error().describe().c_str());
      return 11;
    }
    std::string unique = "w" + std::to_string(id) + "-r" + std::to_string(r);
    std::string pair = "pair-" + std::to_string(r % 2);
    for (const std::string& name : {std::string("shared"), pair, unique}) {
      auto ref = lease->ensure_blob(digest_of(name), FsType::kErofs,
                                    logged_producer(log, name, name == "shared" ? 30000 : 2000));
      if (!ref.ok()) {
        fprintf(stderr, "worker %d: %s\n", id, ref.error().describe().c_str());
        return 12;
      }
    }
    std::string tag = "img-" + std::to_string(id) + "-" + std::to_string(r);
    Status saved = store->save(tag, layers_of({"shared", pair, unique}), meta_of(tag));
    if (!saved.ok()) {
      fprintf(stderr, "worker %d: %s\n", id, saved.error().describe().c_str());
      return 13;
    }
    if (!lease->release().ok()) return 14;
    // Drop every other image (never the first), so gc has real garbage to find.
    if (r % 2 == 1 && r > 1) {
      if (!store->remove("img-" + std::to_string(id) + "-" + std::to_string(r - 1)).ok()) return 15;
    }
  }
  return 0;
}

TEST_F(StoreTest, ConcurrentWritersWithGcLoopingBeside) {
  std::string log = dir_ + "/produced.log";
  std::string stop = dir_ + "/stop";
  {
    // The parent makes a lease before forking: children must still get their
    // own lease ids and temp names (no PRNG state shared through fork).
    Store init = open_store();
    ASSERT_TRUE(init.begin_lease().ok());
  }
  constexpr int kWorkers = 4, kRounds = 6;
  pid_t gc_pid = testing::fork_child([&] {
    auto store = Store::open(cache());
    if (!store.ok()) return 20;
    int runs = 0;
    while (!std::filesystem::exists(stop) || runs < 3) {
      auto stats = store->gc();
      if (!stats.ok()) {
        fprintf(stderr, "gc: %s\n", stats.error().describe().c_str());
        return 21;
      }
      runs++;
      ::usleep(1000);
    }
    return 0;
  });
  std::vector<pid_t> workers;
  for (int i = 0; i < kWorkers; ++i) {
    workers.push_back(testing::fork_child([&, i] { return worker(cache(), log, i, kRounds); }));
  }
  for (pid_t pid : workers) EXPECT_EQ(testing::wait_exit(pid), 0);
  std::ofstream(stop) << "stop";
  EXPECT_EQ(testing::wait_exit(gc_pid), 0);

  EXPECT_EQ(count_lines(log, "shared"), 1);
  Store store = open_store();
  auto images = store.list();
  ASSERT_TRUE(images.ok());
  // Round 3 removed round 2, round 5 removed round 4: rounds 0, 1, 3 and 5 stay.
  EXPECT_EQ(images->size(), static_cast<size_t>(kWorkers * 4));
  std::map<std::string, std::string> names;  // digest -> blob name
  for (std::string n : {"shared", "pair-0", "pair-1"}) names[digest_of(n)] = n;
  for (int i = 0; i < kWorkers; ++i) {
    for (int r = 0; r < kRounds; ++r) {
      std::string n = "w" + std::to_string(i) + "-r" + std::to_string(r);
      names[digest_of(n)] = n;
    }
  }
  for (const ImageInfo& info : *images) {
    auto image = store.get(info.tag);
    ASSERT_TRUE(image.ok());
    ASSERT_EQ(image->canonical_layers.size(), 3u);
    for (const LayerRef& l : image->canonical_layers) {
      ASSERT_TRUE(names.count(l.digest));
      EXPECT_EQ(testing::read_text(l.path), blob_content(names[l.digest], 64 * 1024))
          << info.tag << " " << l.path;
    }
  }
  auto report = store.verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->problems.empty());
  auto final_gc = store.gc();
  ASSERT_TRUE(final_gc.ok());
  // Every file left is a blob some image references.
  auto blobs = store.blobs();
  for (const BlobRecord& b : *blobs) EXPECT_GT(b.refcount, 0u) << b.blob.digest;
  EXPECT_EQ(testing::dir_names(cache() + "/blobs").size(), blobs->size());
  EXPECT_TRUE(testing::dir_names(cache() + "/tmp").empty());
  EXPECT_TRUE(testing::dir_names(cache() + "/leases").empty());
}

// The Builder writes a layer before it knows its key (a scratch blob), holds
// the locks of the two keys it may take, and commits under one of them
// (BlobWriter::adopt) after releasing the other. gc run right then (between
// the write and the rename) must keep the file: it belongs to a live lease.
// (On 8ff0521 the file was named after the released key, and gc removed it.)
TEST_F(StoreTest, GcBetweenWriteAndRenameKeepsAFileCommittedUnderAnotherKey) {
  int gc_runs = 0;
  StoreOptions options;
  options.on_step = [&](StoreStep step) {
    if (step != StoreStep::kBlobWritten) return;
    Store other = open_store();  // a second store: as another process would
    auto stats = other.gc();
    ASSERT_TRUE(stats.ok()) << stats.error().describe();
    EXPECT_EQ(stats->temp_files_removed, 0u);
    ++gc_runs;
  };
  Store store = open_store(options);
  auto lease = store.begin_lease();
  ASSERT_TRUE(lease.ok());
  auto target = lease->begin_blob(digest_of("diff-id key"), FsType::kErofs);
  ASSERT_TRUE(target.ok());
  {
    auto other_key = lease->begin_blob(digest_of("context key"), FsType::kErofs);
    ASSERT_TRUE(other_key.ok());
    auto written = lease->begin_scratch_blob();
    ASSERT_TRUE(written.ok());
    ASSERT_FALSE(written->commit().ok());  // a scratch blob has no key
    written = lease->begin_scratch_blob();
    std::string content = blob_content("layer", 64 * 1024);
    ASSERT_TRUE(write_all(written->fd(), std::as_bytes(std::span(content)), "t").ok());
    ASSERT_TRUE(target->adopt(std::move(*written)).ok());
  }  // the other key's writer ends: its lock is free
  auto ref = target->commit();
  ASSERT_TRUE(ref.ok()) << ref.error().describe();
  EXPECT_EQ(gc_runs, 1);
  EXPECT_EQ(testing::read_text(ref->path), blob_content("layer", 64 * 1024));
  ASSERT_TRUE(store.save("img", layers_of({"diff-id key"}), meta_of("img")).ok());
  ASSERT_TRUE(lease->release().ok());
  EXPECT_TRUE(testing::dir_names(cache() + "/tmp").empty());
}

// Leftovers are still collected: the files of a lease whose process is gone,
// and files of any kind in tmp/ that no lease owns.
TEST_F(StoreTest, GcRemovesTempFilesOfDeadLeases) {
  Store store = open_store();
  pid_t child = testing::fork_child([&] {
    auto s = Store::open(cache());
    if (!s.ok()) return 1;
    auto lease = s->begin_lease();
    if (!lease.ok()) return 2;
    auto w = lease->begin_blob(digest_of("orphan"), FsType::kErofs);
    if (!w.ok()) return 3;
    std::ofstream(w->temp_path() + ".ext4") << "scratch beside it";
    ::_exit(0);  // dies holding the lease: no destructor runs
  });
  ASSERT_EQ(testing::wait_exit(child), 0);
  ASSERT_EQ(testing::dir_names(cache() + "/tmp").size(), 2u);
  std::ofstream(cache() + "/tmp/stray-file") << "x";
  auto stats = store.gc();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->temp_files_removed, 3u);
  EXPECT_TRUE(testing::dir_names(cache() + "/tmp").empty());
}

TEST_F(StoreTest, ThreadsSharingOneStoreProduceABlobOnce) {
  Store store = open_store();
  std::string log = dir_ + "/produced.log";
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      auto lease = store.begin_lease();
      if (!lease.ok()) return void(failures++);
      auto ref =
          lease->ensure_blob(digest_of("t"), FsType::kErofs, logged_producer(log, "t", 20000));
      auto own = lease->ensure_blob(digest_of("own" + std::to_string(i)), FsType::kErofs,
                                    logged_producer(log, "own", 0));
      if (!ref.ok() || !own.ok()) return void(failures++);
      std::string tag = "t" + std::to_string(i);
      if (!store.save(tag, layers_of({"t", "own" + std::to_string(i)}), meta_of(tag)).ok()) {
        failures++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(count_lines(log, "t"), 1);
  EXPECT_EQ(count_lines(log, "own"), 4);
  EXPECT_EQ(store.list()->size(), 4u);
  EXPECT_TRUE(store.verify()->problems.empty());
}

}  // namespace
}  // namespace vmimage
