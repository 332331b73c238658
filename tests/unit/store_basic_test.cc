// Store API: save/get/list/remove in both scopes, replace, tags, shared blobs
// and refcounts, rm/gc pruning, verify, paths and keys.
#include <cstdlib>

#include "store_test_util.h"

namespace vmimage {
namespace {

using testing::blob_content;
using testing::digest_of;
using testing::dir_names;
using testing::layers_of;
using testing::meta_of;
using testing::put_blob;
using testing::StoreTest;

uint64_t refcount(Store& store, const std::string& name) {
  auto blobs = store.blobs();
  EXPECT_TRUE(blobs.ok());
  for (const auto& b : *blobs) {
    if (b.blob.digest == digest_of(name)) return b.refcount;
  }
  return 999;  // not recorded
}

TEST_F(StoreTest, SaveGetListInBothScopes) {
  Store store = open_store();
  auto lease = store.begin_lease();
  ASSERT_TRUE(lease.ok());
  LayerRef base = put_blob(*lease, "base", 5000);
  LayerRef app = put_blob(*lease, "app", 3000);
  LayerRef squash = put_blob(*lease, "squash", 7000);
  EXPECT_EQ(base.size, 5000u);
  EXPECT_EQ(base.path, cache() + "/blobs/sha256_" + base.digest.substr(7) + ".erofs");
  EXPECT_EQ(testing::read_text(base.path), blob_content("base", 5000));

  ASSERT_TRUE(store
                  .save_registry_cache("docker.io/library/alpine:latest",
                                       layers_of({"base", "app"}, {"squash"}), meta_of("alpine"))
                  .ok());
  ASSERT_TRUE(
      store.save("mine", layers_of({"base", "app"}), meta_of("mine", ImageSource::kImport)).ok());

  auto cached = store.get_registry_cache("docker.io/library/alpine:latest");
  ASSERT_TRUE(cached.ok()) << cached.error().describe();
  EXPECT_TRUE(cached->cached);
  EXPECT_EQ(cached->digest, meta_of("alpine").digest);
  ASSERT_EQ(cached->layers.size(), 1u);
  EXPECT_EQ(cached->layers[0].digest, squash.digest);
  EXPECT_EQ(cached->rootfs_path, squash.path);
  EXPECT_EQ(cached->lower_paths, std::vector<std::string>{squash.path});
  EXPECT_EQ(cached->lower_fs_types, std::vector<FsType>{FsType::kErofs});
  EXPECT_EQ(cached->layer_digests, std::vector<std::string>{squash.digest});
  ASSERT_EQ(cached->canonical_layers.size(), 2u);
  EXPECT_EQ(cached->canonical_layers[0].digest, base.digest);
  EXPECT_EQ(cached->canonical_layers[1].digest, app.digest);
  EXPECT_EQ(cached->canonical_layers[1].size, 3000u);
  EXPECT_EQ(cached->size, 7000u);  // the runtime lowers
  EXPECT_EQ(cached->oci.env.at("LANG"), "C.UTF-8");
  EXPECT_EQ(cached->oci.entrypoint, (std::vector<std::string>{"/bin/sh", "-c"}));

  auto mine = store.get("mine");
  ASSERT_TRUE(mine.ok());
  EXPECT_EQ(mine->lower_paths, (std::vector<std::string>{base.path, app.path}));
  EXPECT_EQ(mine->size, 8000u);

  // Scopes are separate tables.
  EXPECT_EQ(store.get("docker.io/library/alpine:latest").error().kind(), ErrorKind::kImageNotFound);
  EXPECT_EQ(store.get_registry_cache("mine").error().kind(), ErrorKind::kImageNotFound);
  auto local = store.list();
  auto registry = store.list_registry_cache();
  ASSERT_TRUE(local.ok() && registry.ok());
  ASSERT_EQ(local->size(), 1u);
  EXPECT_EQ((*local)[0].tag, "mine");
  EXPECT_EQ((*local)[0].scope, Scope::kLocal);
  EXPECT_EQ((*local)[0].rootfs_path, base.path);
  EXPECT_EQ((*local)[0].meta.source, ImageSource::kImport);
  ASSERT_EQ(registry->size(), 1u);
  EXPECT_EQ((*registry)[0].rootfs_path, squash.path);

  auto found = store.resolve("docker.io/library/alpine:latest");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->scope, Scope::kRegistry);
}

TEST_F(StoreTest, TagIsUniquePerScopeAndSavingReplaces) {
  Store store = open_store();
  auto lease = store.begin_lease();
  ASSERT_TRUE(lease.ok());
  put_blob(*lease, "one");
  put_blob(*lease, "two");
  ASSERT_TRUE(store.save("img", layers_of({"one"}), meta_of("v1")).ok());
  ASSERT_TRUE(store.save_registry_cache("img", layers_of({"one"}), meta_of("v1")).ok());
  ASSERT_TRUE(lease->release().ok());

  // Same tag in the other scope is a different entry; saving again replaces.
  ASSERT_TRUE(store.save("img", layers_of({"two"}), meta_of("v2")).ok());
  auto local = store.list();
  ASSERT_EQ(local->size(), 1u);
  EXPECT_EQ((*local)[0].meta.digest, meta_of("v2").digest);
  EXPECT_EQ(store.get("img")->canonical_layers[0].digest, digest_of("two"));
  EXPECT_EQ(store.get_registry_cache("img")->canonical_layers[0].digest, digest_of("one"));
  EXPECT_EQ(refcount(store, "one"), 1u);
  EXPECT_EQ(refcount(store, "two"), 1u);

  // Replacing the registry entry leaves "one" unreferenced: save prunes it.
  ASSERT_TRUE(store.save_registry_cache("img", layers_of({"two"}), meta_of("v2")).ok());
  EXPECT_EQ(refcount(store, "one"), 999u);
  EXPECT_EQ(refcount(store, "two"), 2u);
  EXPECT_EQ(dir_names(cache() + "/blobs").size(), 1u);
}

TEST_F(StoreTest, SharedBlobsStoredOnceAndRemoveKeepsTheOthers) {
  Store store = open_store();
  {
    auto lease = store.begin_lease();
    ASSERT_TRUE(lease.ok());
    put_blob(*lease, "base");
    put_blob(*lease, "a-top");
    put_blob(*lease, "base");  // reused, not produced again
    put_blob(*lease, "b-top");
    ASSERT_TRUE(store.save("a", layers_of({"base", "a-top"}), meta_of("a")).ok());
    ASSERT_TRUE(store.save_registry_cache("b", layers_of({"base", "b-top"}), meta_of("b")).ok());
  }
  EXPECT_EQ(dir_names(cache() + "/blobs").size(), 3u);
  EXPECT_EQ(refcount(store, "base"), 2u);
  EXPECT_EQ(refcount(store, "a-top"), 1u);

  auto pruned = store.remove("a");
  ASSERT_TRUE(pruned.ok()) << pruned.error().describe();
  EXPECT_EQ(pruned->blobs_removed, 1u);  // a-top only
  EXPECT_EQ(pruned->bytes_removed, 4096u);
  EXPECT_EQ(refcount(store, "base"), 1u);
  auto b = store.get_registry_cache("b");
  ASSERT_TRUE(b.ok());
  for (const auto& l : b->canonical_layers) EXPECT_TRUE(std::filesystem::exists(l.path));
  EXPECT_EQ(store.remove("a").error().kind(), ErrorKind::kImageNotFound);

  ASSERT_TRUE(store.remove_registry_cache("b").ok());
  EXPECT_TRUE(dir_names(cache() + "/blobs").empty());
  EXPECT_TRUE(store.blobs()->empty());
}

TEST_F(StoreTest, TagCopiesLayersIntoLocalScope) {
  Store store = open_store();
  auto lease = store.begin_lease();
  put_blob(*lease, "l1");
  put_blob(*lease, "sq");
  ImageMeta meta = meta_of("src");
  meta.config = R"({"architecture":"amd64","rootfs":{"type":"layers","diff_ids":[]}})";
  meta.index_digest = digest_of("index");
  ASSERT_TRUE(store.save_registry_cache("src", layers_of({"l1"}, {"sq"}), meta).ok());
  ASSERT_TRUE(lease->release().ok());
  auto src = store.find(Scope::kRegistry, "src");
  ASSERT_TRUE(src.ok());
  EXPECT_EQ(src->meta.config, meta.config);  // kept as the source gave it, for push
  EXPECT_EQ(src->meta.index_digest, meta.index_digest);
  ASSERT_TRUE(store.tag("src", "dst").ok());
  auto dst = store.find(Scope::kLocal, "dst");
  ASSERT_TRUE(dst.ok());
  EXPECT_EQ(dst->meta.config, meta.config);
  EXPECT_EQ(dst->meta.index_digest, meta.index_digest);
  EXPECT_EQ(dst->meta.source, ImageSource::kTag);
  EXPECT_EQ(dst->meta.digest, meta_of("src").digest);
  EXPECT_EQ(dst->result.layer_digests, std::vector<std::string>{digest_of("sq")});
  EXPECT_EQ(dst->result.canonical_layers[0].digest, digest_of("l1"));
  EXPECT_EQ(dst->meta.oci.working_dir, "/app");
  EXPECT_EQ(refcount(store, "sq"), 2u);
  EXPECT_EQ(store.tag("nope", "x").error().kind(), ErrorKind::kImageNotFound);
  ASSERT_TRUE(store.remove_registry_cache("src").ok());
  EXPECT_TRUE(store.get("dst").ok());
  EXPECT_EQ(dir_names(cache() + "/blobs").size(), 2u);
}

TEST_F(StoreTest, SaveRefusesBlobsNotInTheStore) {
  Store store = open_store();
  auto lease = store.begin_lease();
  put_blob(*lease, "present");
  auto saved = store.save("x", layers_of({"present", "absent"}), meta_of("x"));
  ASSERT_FALSE(saved.ok());
  EXPECT_EQ(saved.error().kind(), ErrorKind::kStoreSave);
  EXPECT_NE(saved.error().message().find(digest_of("absent")), std::string::npos);
  EXPECT_TRUE(store.list()->empty());
  ImageLayers bad;
  bad.canonical.push_back(LayerRef{"sha256:../../etc/passwd", FsType::kErofs, 0, {}});
  EXPECT_FALSE(store.save("y", bad, meta_of("y")).ok());
  EXPECT_FALSE(store.save("", layers_of({"present"}), meta_of("z")).ok());
  EXPECT_FALSE(store.save("z", ImageLayers{}, meta_of("z")).ok());
}

// Tags are references by Docker's grammar, checked at the door: a tag that is
// not UTF-8 once made every later `ls --json` and `inspect` abort.
TEST_F(StoreTest, TagsMustBeReferences) {
  Store store = open_store();
  auto lease = store.begin_lease();
  put_blob(*lease, "one");
  for (std::string ok : {std::string("app"), std::string("app:v1"),
                         std::string("localhost:5000/a/b:v2"), std::string("docker.io/library/x:latest"),
                         "x@sha256:" + std::string(64, 'a')}) {
    EXPECT_TRUE(store.save(ok, layers_of({"one"}), meta_of(ok)).ok()) << ok;
  }
  for (std::string bad : {std::string("a\xff:v"), std::string("a b"), std::string("App:v1"),
                          std::string("x:" + std::string(129, 't')), std::string("a\nb"),
                          std::string("host:99999/a")}) {
    auto saved = store.save(bad, layers_of({"one"}), meta_of("bad"));
    ASSERT_FALSE(saved.ok()) << bad;
    EXPECT_NE(saved.error().message().find("invalid image tag"), std::string::npos);
    auto tagged = store.tag("app:v1", bad);
    ASSERT_FALSE(tagged.ok()) << bad;
    EXPECT_EQ(tagged.error().kind(), ErrorKind::kUsage);
  }
  EXPECT_EQ(store.list()->size(), 5u);
}

TEST_F(StoreTest, CacheRootMustBeUtf8) {
  auto store = Store::open(dir_ + "/cache-\xff");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().kind(), ErrorKind::kUsage);
  EXPECT_NE(store.error().message().find("cache-\\xff\" is not valid UTF-8"), std::string::npos)
      << store.error().message();
}

TEST_F(StoreTest, GcRemovesExactlyUnreferencedBlobsAndLeftovers) {
  Store store = open_store();
  {
    auto lease = store.begin_lease();
    put_blob(*lease, "kept");
    put_blob(*lease, "garbage", 10000);
    ASSERT_TRUE(store.save("img", layers_of({"kept"}), meta_of("img")).ok());
    // While the lease lives, its unsaved blob is protected.
    auto early = store.gc();
    ASSERT_TRUE(early.ok());
    EXPECT_EQ(early->blobs_removed, 0u);
  }
  // Crash leftovers: a temp file and a blob file nobody recorded.
  std::string orphan_name = "sha256_" + digest_of("orphan").substr(7) + ".erofs";
  std::ofstream(cache() + "/blobs/" + orphan_name) << "orphan bytes";
  std::ofstream(cache() + "/tmp/" + orphan_name + ".0123456789abcdef.tmp") << "partial";
  std::ofstream(cache() + "/blobs/not-a-blob.txt") << "foreign";

  auto stats = store.gc();
  ASSERT_TRUE(stats.ok()) << stats.error().describe();
  EXPECT_EQ(stats->blobs_removed, 2u);  // garbage + orphan
  EXPECT_EQ(stats->temp_files_removed, 1u);
  EXPECT_EQ(stats->bytes_removed, 10000u + 12u + 7u);
  auto blobs = dir_names(cache() + "/blobs");
  EXPECT_EQ(blobs, (std::vector<std::string>{"not-a-blob.txt",
                                             "sha256_" + digest_of("kept").substr(7) + ".erofs"}));
  EXPECT_TRUE(dir_names(cache() + "/tmp").empty());
  EXPECT_TRUE(dir_names(cache() + "/leases").empty());
  EXPECT_TRUE(dir_names(cache() + "/locks").empty());
  EXPECT_TRUE(store.get("img").ok());
  auto again = store.gc();
  EXPECT_EQ(again->blobs_removed + again->temp_files_removed, 0u);
}

TEST_F(StoreTest, VerifyDetectsCorruptAndMissingBlobs) {
  Store store = open_store();
  auto lease = store.begin_lease();
  LayerRef a = put_blob(*lease, "a");
  LayerRef b = put_blob(*lease, "b");
  LayerRef c = put_blob(*lease, "c");
  ASSERT_TRUE(store.save("ab", layers_of({"a", "b"}), meta_of("ab")).ok());
  ASSERT_TRUE(store.save("c", layers_of({"c"}), meta_of("c")).ok());
  auto clean = store.verify();
  ASSERT_TRUE(clean.ok());
  EXPECT_EQ(clean->blobs_checked, 3u);
  EXPECT_EQ(clean->bytes_checked, 3u * 4096);
  EXPECT_TRUE(clean->problems.empty());

  // Same size, one byte flipped: only the hash can tell.
  {
    int fd = ::open(a.path.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "X", 1, 100), 1);
    ::close(fd);
  }
  ASSERT_EQ(::unlink(c.path.c_str()), 0);
  auto report = store.verify();
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->problems.size(), 2u);
  std::map<std::string, BlobProblem::Kind> kinds;
  for (const auto& p : report->problems) kinds[p.record.blob.digest] = p.kind;
  EXPECT_EQ(kinds.at(a.digest), BlobProblem::Kind::kCorrupt);
  EXPECT_EQ(kinds.at(c.digest), BlobProblem::Kind::kMissing);

  std::vector<std::string> only_ab = {"ab"};
  auto partial = store.verify(only_ab);
  ASSERT_TRUE(partial.ok());
  EXPECT_EQ(partial->blobs_checked, 2u);
  ASSERT_EQ(partial->problems.size(), 1u);
  EXPECT_EQ(partial->problems[0].record.blob.digest, a.digest);
  std::vector<std::string> unknown = {"nope"};
  EXPECT_EQ(store.verify(unknown).error().kind(), ErrorKind::kImageNotFound);

  // ensure_blob heals a missing blob by producing it again.
  LayerRef c2 = put_blob(*lease, "c");
  EXPECT_EQ(c2.path, c.path);
  EXPECT_TRUE(std::filesystem::exists(c.path));
  EXPECT_EQ(store.verify(std::vector<std::string>{"c"})->problems.size(), 0u);
}

TEST_F(StoreTest, EnsureBlobReusesAndReportsProducerErrors) {
  Store store = open_store();
  auto lease = store.begin_lease();
  int produced = 0;
  auto producer = [&](int fd, const std::string& path) -> Status {
    produced++;
    std::string data = "content";
    return write_all(fd, std::as_bytes(std::span(data)), path);
  };
  std::string key = digest_of("k");
  ASSERT_TRUE(lease->ensure_blob(key, FsType::kErofs, producer).ok());
  ASSERT_TRUE(lease->ensure_blob(key, FsType::kErofs, producer).ok());
  EXPECT_EQ(produced, 1);
  // Another fs type is another blob.
  auto ext4 = lease->ensure_blob(key, FsType::kExt4, producer);
  ASSERT_TRUE(ext4.ok());
  EXPECT_EQ(produced, 2);
  EXPECT_EQ(ext4->path.substr(ext4->path.size() - 5), ".ext4");
  EXPECT_EQ(*store.blob_path(key, FsType::kExt4), ext4->path);

  auto failed = lease->ensure_blob(
      digest_of("bad"), FsType::kErofs,
      [](int, const std::string&) -> Status { return Error(ErrorKind::kLayerFs, "broken layer"); });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().kind(), ErrorKind::kLayerFs);
  EXPECT_NE(failed.error().message().find("broken layer"), std::string::npos);
  EXPECT_TRUE(dir_names(cache() + "/tmp").empty());
  EXPECT_EQ(dir_names(cache() + "/blobs").size(), 2u);
  EXPECT_FALSE(lease->ensure_blob("sha256:xyz", FsType::kErofs, producer).ok());
}

TEST_F(StoreTest, BeginBlobWriterCommitsAndDiscards) {
  Store store = open_store();
  auto lease = store.begin_lease();
  {
    auto w = lease->begin_blob(digest_of("w"), FsType::kErofs);
    ASSERT_TRUE(w.ok());
    EXPECT_FALSE(w->exists());
    EXPECT_EQ(dir_names(cache() + "/tmp").size(), 1u);
    ASSERT_EQ(::pwrite(w->fd(), "tail", 4, 1000), 4);  // sparse writes are fine
  }                                                    // dropped uncommitted
  EXPECT_TRUE(dir_names(cache() + "/tmp").empty());
  EXPECT_TRUE(dir_names(cache() + "/blobs").empty());
  auto w = lease->begin_blob(digest_of("w"), FsType::kErofs);
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(::pwrite(w->fd(), "tail", 4, 1000), 4);
  auto ref = w->commit();
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->size, 1004u);
  // xxhsum -H2 of the xxhsum -H2 digest of 1000 zero bytes and "tail" (one stripe).
  EXPECT_EQ(store.blobs()->at(0).file_checksum, "xxh3-128x4m:ec36f95c9314ec19c4eaf4086a2c6761");
  auto again = lease->begin_blob(digest_of("w"), FsType::kErofs);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->exists());
  EXPECT_EQ(again->commit()->path, ref->path);
}

TEST_F(StoreTest, DiskUsageSplitsSharedAndUniqueBytes) {
  Store store = open_store();
  auto lease = store.begin_lease();
  put_blob(*lease, "base", 1000);
  put_blob(*lease, "x", 200);
  put_blob(*lease, "y", 30);
  put_blob(*lease, "loose", 4);
  ASSERT_TRUE(store.save("x", layers_of({"base", "x"}), meta_of("x")).ok());
  ASSERT_TRUE(store.save_registry_cache("y", layers_of({"base", "y"}), meta_of("y")).ok());
  auto du = store.disk_usage();
  ASSERT_TRUE(du.ok());
  EXPECT_EQ(du->blobs, 4u);
  EXPECT_EQ(du->bytes, 1234u);
  EXPECT_EQ(du->shared_bytes, 1000u);
  EXPECT_EQ(du->unreferenced_bytes, 4u);
  ASSERT_EQ(du->images.size(), 2u);
  EXPECT_EQ(du->images[0].tag, "x");
  EXPECT_EQ(du->images[0].unique_bytes, 200u);
  EXPECT_EQ(du->images[0].shared_bytes, 1000u);
  EXPECT_EQ(du->images[1].tag, "y");
  EXPECT_EQ(du->images[1].scope, Scope::kRegistry);
  EXPECT_EQ(du->images[1].unique_bytes, 30u);
}

TEST_F(StoreTest, CacheRootResolution) {
  auto restore = [](const char* name, const char* old) {
    if (old)
      setenv(name, old, 1);
    else
      unsetenv(name);
  };
  std::string old_vm = getenv("VMIMAGE_CACHE_DIR") ? getenv("VMIMAGE_CACHE_DIR") : "";
  std::string old_xdg = getenv("XDG_CACHE_HOME") ? getenv("XDG_CACHE_HOME") : "";
  std::string old_home = getenv("HOME") ? getenv("HOME") : "";
  setenv("VMIMAGE_CACHE_DIR", "/v", 1);
  setenv("XDG_CACHE_HOME", "/x", 1);
  setenv("HOME", "/h", 1);
  EXPECT_EQ(*resolve_cache_root("/explicit"), "/explicit");
  EXPECT_EQ(*resolve_cache_root(""), "/v");
  unsetenv("VMIMAGE_CACHE_DIR");
  EXPECT_EQ(*resolve_cache_root(""), "/x/vmimage");
  setenv("XDG_CACHE_HOME", "relative", 1);  // invalid per the XDG spec: ignored
  EXPECT_EQ(*resolve_cache_root(""), "/h/.cache/vmimage");
  unsetenv("XDG_CACHE_HOME");
  EXPECT_EQ(*resolve_cache_root(""), "/h/.cache/vmimage");
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof cwd), nullptr);
  EXPECT_EQ(*resolve_cache_root("rel"), std::string(cwd) + "/rel");
  restore("VMIMAGE_CACHE_DIR", old_vm.empty() ? nullptr : old_vm.c_str());
  restore("XDG_CACHE_HOME", old_xdg.empty() ? nullptr : old_xdg.c_str());
  restore("HOME", old_home.empty() ? nullptr : old_home.c_str());
}

TEST(StoreKeys, SquashedBlobKeyDependsOnChainOrderAndFsType) {
  std::vector<std::string> ab = {digest_of("a"), digest_of("b")};
  std::vector<std::string> ba = {digest_of("b"), digest_of("a")};
  std::string key = squashed_blob_key(ab, FsType::kErofs);
  EXPECT_EQ(key.substr(0, 7), "sha256:");
  EXPECT_EQ(key.size(), 71u);
  EXPECT_EQ(key, squashed_blob_key(ab, FsType::kErofs));
  EXPECT_NE(key, squashed_blob_key(ba, FsType::kErofs));
  EXPECT_NE(key, squashed_blob_key(ab, FsType::kExt4));
  EXPECT_EQ(key, io::sha256_digest("vmimage-squash-v1\nerofs\n" + ab[0] + "\n" + ab[1] + "\n"));
}

TEST_F(StoreTest, BlobPathValidatesDigests) {
  Store store = open_store();
  std::string d = digest_of("x");
  EXPECT_EQ(*store.blob_path(d), cache() + "/blobs/sha256_" + d.substr(7) + ".erofs");
  EXPECT_FALSE(store.blob_path("sha256:ABC").ok());
  EXPECT_FALSE(store.blob_path("md5:" + d.substr(7)).ok());
  EXPECT_FALSE(store.blob_path("sha256:" + d.substr(7) + "/..").ok());
}

// The model's free functions: each opens the store for one call.
TEST_F(StoreTest, RegistryCacheFreeFunctions) {
  {
    Store store = open_store();
    auto lease = store.begin_lease();
    put_blob(*lease, "one");
    ASSERT_TRUE(save_registry_cache("docker.io/library/a:1", cache(), layers_of({"one"}),
                                    meta_of("a")).ok());
    ASSERT_TRUE(lease->release().ok());
  }
  auto got = get_registry_cache("docker.io/library/a:1", cache());
  ASSERT_TRUE(got.ok()) << got.error().describe();
  EXPECT_EQ(got->canonical_layers.at(0).digest, digest_of("one"));
  auto listed = list_registry_cache(cache());
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().tag, "docker.io/library/a:1");
  EXPECT_EQ(get_registry_cache("docker.io/library/b:1", cache()).error().kind(),
            ErrorKind::kImageNotFound);
  auto removed = remove_registry_cache("docker.io/library/a:1", cache());
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->blobs_removed, 1u);
  auto swept = gc(cache());
  ASSERT_TRUE(swept.ok());
  EXPECT_TRUE(list_registry_cache(cache())->empty());
}

}  // namespace
}  // namespace vmimage
