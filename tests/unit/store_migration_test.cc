// Schema migrations: an existing version-1 database is upgraded in place with
// its data kept; a newer database is refused; concurrent first opens agree.
#include <chrono>
#include <thread>

#include "io/checksum.h"
#include "store/core.h"
#include "store/schema.h"
#include "store_test_util.h"

namespace vmimage {
namespace {

using store_detail::Db;
using store_detail::Statement;
using testing::digest_of;
using testing::StoreTest;

int user_version(const std::string& db_path) {
  auto db = Db::open(db_path, true);
  EXPECT_TRUE(db.ok());
  auto v = store_detail::schema_version(*db);
  return v.ok() ? *v : -1;
}

TEST_F(StoreTest, MigratesAVersion1DatabaseKeepingItsImages) {
  std::string root = cache();
  ASSERT_TRUE(make_dirs(root + "/blobs").ok());
  std::string content = "a blob written by an older vmimage";
  std::string digest = digest_of("old");
  std::string path = root + "/blobs/sha256_" + digest.substr(7) + ".erofs";
  std::ofstream(path) << content;
  {
    auto db = Db::open(root + "/store.db", false);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(store_detail::migrate(*db, 1).ok());
    ASSERT_EQ(*store_detail::schema_version(*db), 1);
    std::string sql =
        "INSERT INTO blobs VALUES ('" + digest + "', 'erofs', " + std::to_string(content.size()) +
        ", '" + io::sha256_digest(content) +
        "', 1);"
        "INSERT INTO images VALUES (1, 'registry', 'old:1', 'sha256:m', 7, 1700000000000000000,"
        " 'registry', '{\"user\":\"root\",\"env\":{\"A\":\"1\"}}');"
        "INSERT INTO image_layers VALUES (1, 'canonical', 0, '" +
        digest +
        "', 'erofs');"
        "INSERT INTO image_layers VALUES (1, 'runtime', 0, '" +
        digest + "', 'erofs');";
    ASSERT_TRUE(db->exec(sql, ErrorKind::kMetadata).ok());
    // Version 1 has no leases yet.
    EXPECT_FALSE(Statement::prepare(*db, "SELECT * FROM leases", ErrorKind::kMetadata).ok());
  }
  Store store = open_store();
  EXPECT_EQ(user_version(root + "/store.db"), store_detail::kSchemaVersion);
  auto old = store.get_registry_cache("old:1");
  ASSERT_TRUE(old.ok()) << old.error().describe();
  EXPECT_EQ(old->rootfs_path, path);
  EXPECT_EQ(old->oci.user, "root");
  EXPECT_EQ(old->oci.env.at("A"), "1");
  EXPECT_EQ(old->oci.working_dir, "");  // absent keys read as empty
  auto listed = store.list_registry_cache();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(
                listed->at(0).meta.created_at.time_since_epoch())
                .count(),
            1700000000);
  EXPECT_TRUE(store.verify()->problems.empty());
  // The old row keeps its sha256 checksum, and verify still checks it.
  ASSERT_EQ(store.blobs()->at(0).file_checksum, io::sha256_digest(content));
  {
    std::string damaged = content;
    damaged[0] = 'A';
    ::chmod(path.c_str(), 0644);
    std::ofstream(path) << damaged;
  }
  auto report = store.verify();
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_NE(report->problems[0].detail.find("recorded sha256:"), std::string::npos);
  std::ofstream(path) << content;
  // The features of later versions work on the migrated store.
  auto lease = store.begin_lease();
  ASSERT_TRUE(lease.ok()) << lease.error().describe();
  testing::put_blob(*lease, "new");
  ASSERT_TRUE(store.save("new", testing::layers_of({"new"}), testing::meta_of("new")).ok());
  ASSERT_TRUE(lease->release().ok());
  EXPECT_EQ(store.gc()->blobs_removed, 0u);
  // Reopening an up-to-date store changes nothing.
  Store again = open_store();
  EXPECT_EQ(again.list()->size(), 1u);
}

TEST_F(StoreTest, RefusesADatabaseFromANewerVersion) {
  ASSERT_TRUE(make_dirs(cache()).ok());
  {
    auto db = Db::open(cache() + "/store.db", false);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->exec("PRAGMA user_version = 99", ErrorKind::kMetadata).ok());
  }
  StoreOptions options;
  options.cache_dir = cache();
  auto store = Store::open(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().kind(), ErrorKind::kMetadata);
  EXPECT_NE(store.error().message().find("newer"), std::string::npos);
  EXPECT_EQ(user_version(cache() + "/store.db"), 99);
}

TEST_F(StoreTest, ConcurrentFirstOpensMigrateOnce) {
  std::vector<pid_t> children;
  for (int i = 0; i < 6; ++i) {
    children.push_back(testing::fork_child([&] {
      StoreOptions options;
      options.cache_dir = cache();
      auto store = Store::open(options);
      if (!store.ok()) {
        fprintf(stderr, "child: %s\n", store.error().describe().c_str());
        return 1;
      }
      return store->list().ok() ? 0 : 2;
    }));
  }
  for (pid_t pid : children) EXPECT_EQ(testing::wait_exit(pid), 0);
  EXPECT_EQ(user_version(cache() + "/store.db"), store_detail::kSchemaVersion);
}

// Blobs sealed before the striped checksum keep their whole-file "xxh3-128:" row.
TEST_F(StoreTest, VerifiesRowsWithTheWholeFileXxh3Checksum) {
  Store store = open_store();
  auto lease = store.begin_lease();
  LayerRef ref = testing::put_blob(*lease, "w", 5000);
  ASSERT_TRUE(store.save("w", testing::layers_of({"w"}), testing::meta_of("w")).ok());
  ASSERT_EQ(store.blobs()->at(0).file_checksum.rfind("xxh3-128x4m:", 0), 0u);
  std::string content = testing::blob_content("w", 5000);
  UniqueFd fd(::open(ref.path.c_str(), O_RDONLY | O_CLOEXEC));
  auto whole = io::file_checksum(fd.get(), ref.path, ErrorKind::kIo, "xxh3-128");
  ASSERT_TRUE(whole.ok());
  {
    auto db = Db::open(cache() + "/store.db", false);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(
        db->exec("UPDATE blobs SET file_checksum = '" + *whole + "'", ErrorKind::kMetadata).ok());
  }
  EXPECT_TRUE(store.verify()->problems.empty());
  ::chmod(ref.path.c_str(), 0644);
  content[0] ^= 1;
  std::ofstream(ref.path) << content;
  auto report = store.verify();
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_NE(report->problems[0].detail.find("recorded xxh3-128:"), std::string::npos);
}

// Schema 5: a blob's origin and, once known, its sha256 (what push needs).
TEST_F(StoreTest, RecordsWhereABlobCameFromAndItsSha256) {
  Store store = open_store();
  auto lease = store.begin_lease();
  ASSERT_TRUE(lease.ok());
  testing::put_blob(*lease, "converted");
  std::string pulled_content = testing::blob_content("pulled");
  {
    auto writer = lease->begin_blob(testing::digest_of("pulled"), FsType::kErofs);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE(write_all(writer->fd(), std::as_bytes(std::span(pulled_content)), "blob").ok());
    writer->set_pulled(io::sha256_digest(pulled_content));
    ASSERT_TRUE(writer->commit().ok());
  }
  auto converted = store.find_blob(testing::digest_of("converted"), FsType::kErofs);
  ASSERT_TRUE(converted.ok() && converted->has_value());
  EXPECT_EQ((*converted)->origin, BlobOrigin::kConverted);
  EXPECT_EQ((*converted)->content_digest, "");
  auto pulled = store.find_blob(testing::digest_of("pulled"), FsType::kErofs);
  ASSERT_TRUE(pulled.ok() && pulled->has_value());
  EXPECT_EQ((*pulled)->origin, BlobOrigin::kPulled);
  EXPECT_EQ((*pulled)->content_digest, io::sha256_digest(pulled_content));

  ASSERT_TRUE(store
                  .set_content_digest(testing::digest_of("converted"), FsType::kErofs,
                                      "sha256:" + std::string(64, 'a'))
                  .ok());
  EXPECT_EQ((*store.find_blob(testing::digest_of("converted"), FsType::kErofs))->content_digest,
            "sha256:" + std::string(64, 'a'));
  EXPECT_FALSE(store.find_blob(testing::digest_of("absent"), FsType::kErofs)->has_value());
  EXPECT_FALSE(store.find_blob(testing::digest_of("pulled"), FsType::kExt4)->has_value());

  // Where registry blobs are known to be, most recent first, each repository once.
  std::string blob = "sha256:" + std::string(64, 'b');
  ASSERT_TRUE(store.record_blob_location(blob, "r.example/a").ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_TRUE(store.record_blob_location(blob, "r.example/b").ok());
  EXPECT_EQ(*store.blob_locations(blob), (std::vector<std::string>{"r.example/b", "r.example/a"}));
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_TRUE(store.record_blob_location(blob, "r.example/a").ok());
  EXPECT_EQ(*store.blob_locations(blob), (std::vector<std::string>{"r.example/a", "r.example/b"}));
  EXPECT_TRUE(store.blob_locations("sha256:" + std::string(64, 'c'))->empty());

  // gc forgets locations not seen for 30 days.
  {
    auto db = Db::open(cache() + "/store.db", false);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->exec("UPDATE blob_locations SET seen_at = seen_at - 31 * 86400 * 1000000000 "
                         "WHERE repository = 'r.example/b'",
                         ErrorKind::kMetadata)
                    .ok());
  }
  ASSERT_TRUE(store.gc().ok());
  EXPECT_EQ(*store.blob_locations(blob), (std::vector<std::string>{"r.example/a"}));

  // Uploads a push left part way: one per repository and blob, the latest URL;
  // forgotten when done, and by gc after a week.
  EXPECT_EQ(*store.kept_upload("r.example/a", blob), "");
  ASSERT_TRUE(store.keep_upload("r.example/a", blob, "http://r.example/u/1?_state=a").ok());
  ASSERT_TRUE(store.keep_upload("r.example/a", blob, "http://r.example/u/1?_state=b").ok());
  ASSERT_TRUE(store.keep_upload("r.example/b", blob, "http://r.example/u/2").ok());
  EXPECT_EQ(*store.kept_upload("r.example/a", blob), "http://r.example/u/1?_state=b");
  EXPECT_EQ(*store.kept_upload("r.example/b", blob), "http://r.example/u/2");
  ASSERT_TRUE(store.keep_upload("r.example/b", blob, "").ok());
  EXPECT_EQ(*store.kept_upload("r.example/b", blob), "");
  {
    auto db = Db::open(cache() + "/store.db", false);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->exec("UPDATE upload_sessions SET updated_at = updated_at - 8 * 86400 * "
                         "1000000000",
                         ErrorKind::kMetadata)
                    .ok());
  }
  ASSERT_TRUE(store.gc().ok());
  EXPECT_EQ(*store.kept_upload("r.example/a", blob), "");
}

}  // namespace
}  // namespace vmimage
