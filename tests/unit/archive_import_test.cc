// import_archive / import_directory over every supported layout, built in
// memory: the chosen image, layer order, DiffIDs, digests, names and the
// blobs left unreferenced.
#include "archive_test_support.h"

namespace vmimage::archive::testing {
namespace {

// Handles the handler produced that the image does not use (another image's
// layer, a blob of another platform, a member replaced by a later one).
std::vector<uint64_t> unused_handles(const ImportedImage& image, const TestHandler& handler) {
  std::set<uint64_t> used;
  for (const LayerBlob& l : image.layers) used.insert(l.handle);
  std::vector<uint64_t> out;
  for (uint64_t h = TestHandler::kFirstHandle; h < TestHandler::kFirstHandle + handler.calls.size(); ++h) {
    if (!used.count(h)) out.push_back(h);
  }
  return out;
}

using io::Compression;

// The layers the handler saw for the image equal the test image's, in order.
void expect_layers(const ImportedImage& got, const TestImage& want, const TestHandler& handler) {
  ASSERT_EQ(got.layers.size(), want.layers.size());
  for (size_t i = 0; i < want.layers.size(); ++i) {
    SCOPED_TRACE("layer " + std::to_string(i));
    EXPECT_EQ(got.layers[i].diff_id, want.layers[i].diff_id);
    EXPECT_EQ(got.layers[i].compressed_digest, want.layers[i].digest);
    EXPECT_EQ(got.layers[i].compressed_size, want.layers[i].blob.size());
    EXPECT_EQ(got.layers[i].compression, want.layers[i].compression);
    EXPECT_EQ(handler.by_handle(got.layers[i].handle).diff_id, want.layers[i].diff_id);
  }
  EXPECT_EQ(got.config_raw, want.config);
  EXPECT_EQ(got.config_digest, want.config_digest);
  ASSERT_EQ(got.config.diff_ids.size(), want.layers.size());
  EXPECT_EQ(got.config.config.cmd, std::vector<std::string>{"/bin/sh"});
}

TEST(ArchiveImport, DockerClassic) {
  TestImage img = sample_image(Compression::kNone, {"example/app:v1"});
  TestHandler handler;
  auto got = import_bytes(write_tar(docker_classic({img})), handler);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->format, ArchiveFormat::kDockerArchive);
  EXPECT_EQ(got->name, "example/app:v1");
  EXPECT_EQ(got->names, std::vector<std::string>{"example/app:v1"});
  expect_layers(*got, img, handler);
  EXPECT_TRUE(unused_handles(*got, handler).empty());
  EXPECT_EQ(handler.calls.size(), 3u);
  // The whiteout and opaque markers reach the handler untouched, in their layers.
  const auto& second = handler.by_handle(got->layers[1].handle).entries;
  EXPECT_NE(std::find(second.begin(), second.end(), "data/.wh.gone"), second.end());
  const auto& third = handler.by_handle(got->layers[2].handle).entries;
  EXPECT_NE(std::find(third.begin(), third.end(), "opq/.wh..wh..opq"), third.end());
  // No manifest in the archive: a synthesized one over what was read.
  EXPECT_TRUE(got->manifest_synthesized);
  EXPECT_EQ(got->manifest_digest, io::sha256_digest(got->manifest_raw));
  auto manifest = Json::parse(got->manifest_raw);
  EXPECT_EQ(manifest["config"]["digest"], img.config_digest);
  EXPECT_EQ(manifest["layers"][2]["digest"], img.layers[2].digest);
  EXPECT_EQ(manifest["layers"][2]["mediaType"], "application/vnd.oci.image.layer.v1.tar");
}

TEST(ArchiveImport, SynthesizedDigestIsStable) {
  TestImage img = sample_image(Compression::kGzip);
  std::string tar = write_tar(docker_classic({img}));
  TestHandler h1, h2;
  auto a = import_bytes(tar, h1);
  auto b = import_bytes(tar, h2);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->manifest_digest, b->manifest_digest);
  EXPECT_EQ(a->manifest_raw, b->manifest_raw);
  // A different image gives a different digest.
  TestHandler h3;
  auto c =
      import_bytes(write_tar(docker_classic({sample_image(Compression::kGzip, {"x:1"}, "2")})), h3);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(c->manifest_digest, a->manifest_digest);
}

TEST(ArchiveImport, CompressedLayersByMagic) {
  for (Compression c : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    SCOPED_TRACE(std::string(io::compression_name(c)));
    TestImage img = sample_image(c);
    TestHandler handler;
    auto got = import_bytes(write_tar(docker_classic({img})), handler);
    ASSERT_TRUE(got.ok()) << got.error().message();
    expect_layers(*got, img, handler);
  }
}

TEST(ArchiveImport, CompressedOuterArchive) {
  TestImage img = sample_image(Compression::kGzip);
  std::string tar = write_tar(docker_classic({img}));
  for (Compression c : {Compression::kGzip, Compression::kZstd}) {
    SCOPED_TRACE(std::string(io::compression_name(c)));
    TestHandler handler;
    auto got = import_bytes(compress(tar, c), handler);
    ASSERT_TRUE(got.ok()) << got.error().message();
    expect_layers(*got, img, handler);
  }
}

// skopeo's docker-archive: layers as <diffid>.tar with <id>/layer.tar symlinks;
// docker's own dedupes a repeated layer with a symlink or hard link.
TEST(ArchiveImport, LinkedLayers) {
  TestImage img = sample_image(Compression::kNone);
  img.layers.push_back(img.layers[1]);  // the same layer twice
  seal(img);
  Members m = docker_classic({img});
  Json manifest = Json::parse(find_member(m, "manifest.json")->data);
  std::string first = manifest[0]["Layers"][0];
  std::string second = manifest[0]["Layers"][1];
  // Move layer 0 to <diffid>.tar and leave a relative symlink behind.
  std::string moved = hex_of(img.layers[0].diff_id) + ".tar";
  find_member(m, first)->path = moved;
  m.insert(m.begin(), Member{first, "", 'l', "../" + moved});
  // Layer 3 (a copy of layer 1) as a hard link to it.
  manifest[0]["Layers"][3] = "dup/layer.tar";
  m.insert(m.end() - 1, Member{"dup/layer.tar", "", 'h', second});
  find_member(m, "manifest.json")->data = manifest.dump();
  TestHandler handler;
  auto got = import_bytes(write_tar(m), handler);
  ASSERT_TRUE(got.ok()) << got.error().message();
  expect_layers(*got, img, handler);
  EXPECT_EQ(got->layers[0].member_path, moved);
  EXPECT_EQ(got->layers[3].handle, got->layers[1].handle);
  EXPECT_EQ(handler.calls.size(), 3u);  // the duplicate was converted once
}

TEST(ArchiveImport, Docker25KeepsTheRealManifest) {
  TestImage img = sample_image(Compression::kGzip, {"docker.io/library/app:7"});
  TestHandler handler;
  auto got = import_bytes(write_tar(docker25({img})), handler);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->format, ArchiveFormat::kDockerArchive);
  EXPECT_EQ(got->name, "docker.io/library/app:7");
  expect_layers(*got, img, handler);
  EXPECT_FALSE(got->manifest_synthesized);
  EXPECT_EQ(got->manifest_digest, img.manifest_digest);
  EXPECT_EQ(got->manifest_raw, img.manifest);
  EXPECT_EQ(got->layers[0].media_type, "application/vnd.oci.image.layer.v1.tar+gzip");
}

TEST(ArchiveImport, Docker25WithoutUsableIndexSynthesizes) {
  TestImage img = sample_image(Compression::kNone, {});
  Members m = docker25({img});
  find_member(m, "index.json")->data = R"({"schemaVersion":2,"manifests":null})";
  TestHandler handler;
  auto got = import_bytes(write_tar(m), handler);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_TRUE(got->manifest_synthesized);
  EXPECT_EQ(got->name, "");  // RepoTags empty: the caller must name it
  expect_layers(*got, img, handler);
}

TEST(ArchiveImport, OciArchive) {
  for (Compression c : {Compression::kNone, Compression::kGzip, Compression::kZstd}) {
    SCOPED_TRACE(std::string(io::compression_name(c)));
    TestImage img = sample_image(c, {"registry.example:5000/team/app:2.1"});
    TestHandler handler;
    auto got = import_bytes(write_tar(oci_layout({img})), handler);
    ASSERT_TRUE(got.ok()) << got.error().message();
    EXPECT_EQ(got->format, ArchiveFormat::kOciLayout);
    EXPECT_EQ(got->name, "registry.example:5000/team/app:2.1");
    EXPECT_EQ(got->manifest_digest, img.manifest_digest);
    EXPECT_EQ(got->manifest_media_type, "application/vnd.oci.image.manifest.v1+json");
    EXPECT_FALSE(got->manifest_synthesized);
    expect_layers(*got, img, handler);
    EXPECT_EQ(got->layers[0].media_type, img.layers[0].media_type);
  }
}

TEST(ArchiveImport, OciDirectoryConvertsOnlyTheChosenImage) {
  TestImage a = sample_image(Compression::kGzip, {"a:1"}, "a");
  TestImage b = sample_image(Compression::kZstd, {"b:1"}, "b");
  TempDir dir;
  write_dir(oci_layout({a, b}), dir.path);
  TestHandler handler;
  ImportOptions options;
  options.ref = "b:1";
  auto got = import_directory(dir.path.string(), handler, options);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->name, "b:1");
  expect_layers(*got, b, handler);
  EXPECT_EQ(handler.calls.size(), 3u);
  EXPECT_TRUE(unused_handles(*got, handler).empty());
}

TEST(ArchiveImport, UnpackedDockerSaveDirectory) {
  TestImage img = sample_image(Compression::kNone);
  TempDir dir;
  write_dir(docker_classic({img}), dir.path);
  TestHandler handler;
  auto got = import_directory(dir.path.string(), handler, {});
  ASSERT_TRUE(got.ok()) << got.error().message();
  expect_layers(*got, img, handler);
}

TEST(ArchiveImport, PipeStreamWithLargeLayerAndManifestLast) {
  // An 8 MiB incompressible file: well above the in-memory document limit.
  TestLayer big = make_layer({{"big.bin", random_bytes(8 << 20, 7)}}, Compression::kNone);
  TestImage img = sample_image(Compression::kGzip);
  img.layers.push_back(big);
  seal(img);
  for (bool oci : {false, true}) {
    SCOPED_TRACE(oci ? "oci" : "docker");
    std::string tar = write_tar(oci ? oci_layout({img}) : docker_classic({img}));
    TestHandler handler;
    auto got = import_through_pipe(gzip(tar), handler, {});
    ASSERT_TRUE(got.ok()) << got.error().message();
    expect_layers(*got, img, handler);
  }
}

TEST(ArchiveImport, HandlerReadingPartlyStillGetsVerifiedDigests) {
  TestImage img = sample_image(Compression::kGzip);
  std::map<std::string, std::string> diff_by_path;
  for (const TestLayer& l : img.layers)
    diff_by_path["blobs/sha256/" + hex_of(l.digest)] = l.diff_id;
  TestHandler handler;
  handler.lazy_diff_id = [&](const std::string& path) { return diff_by_path[path]; };
  auto got = import_bytes(write_tar(oci_layout({img})), handler);
  ASSERT_TRUE(got.ok()) << got.error().message();
  for (size_t i = 0; i < img.layers.size(); ++i) {
    EXPECT_EQ(got->layers[i].compressed_digest, img.layers[i].digest);
    EXPECT_EQ(got->layers[i].compressed_size, img.layers[i].blob.size());
  }
}

TEST(ArchiveImport, SeveralImagesNeedARef) {
  TestImage a = sample_image(Compression::kNone, {"alpha:1", "alpha:latest"}, "a");
  TestImage b = sample_image(Compression::kNone, {"beta:2"}, "b");
  b.layers[0] = a.layers[0];  // a shared base layer
  seal(b);
  std::string tar = write_tar(docker_classic({a, b}));
  TestHandler handler;
  auto none = import_bytes(tar, handler);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().kind(), ErrorKind::kTarball);
  EXPECT_NE(none.error().message().find("holds 2 images"), std::string::npos)
      << none.error().message();
  EXPECT_NE(none.error().message().find("alpha:1 alpha:latest, beta:2"), std::string::npos)
      << none.error().message();

  ImportOptions options;
  options.ref = "docker.io/library/beta:2";  // normalized match against "beta:2"
  TestHandler h2;
  auto got = import_bytes(tar, h2, options);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->name, "beta:2");
  expect_layers(*got, b, h2);
  // Alpha's own middle layer was converted while streaming and is unused (the
  // other two are shared).
  ASSERT_EQ(unused_handles(*got, h2).size(), 1u);
  EXPECT_EQ(h2.by_handle(unused_handles(*got, h2)[0]).diff_id, a.layers[1].diff_id);

  options.ref = "alpha";  // :latest implied
  TestHandler h3;
  got = import_bytes(tar, h3, options);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->name, "alpha:latest");
  EXPECT_EQ(got->names.size(), 2u);
  expect_layers(*got, a, h3);

  options.ref = hex_of(b.config_digest).substr(0, 12);  // by image id
  TestHandler h4;
  got = import_bytes(tar, h4, options);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->name, "beta:2");

  options.ref = "gamma:3";
  TestHandler h5;
  got = import_bytes(tar, h5, options);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.error().message().find("no image in the archive matches \"gamma:3\""),
            std::string::npos)
      << got.error().message();
  EXPECT_NE(got.error().message().find("beta:2"), std::string::npos);
}

TEST(ArchiveImport, SeveralOciImagesNeedARef) {
  TestImage a = sample_image(Compression::kGzip, {"alpha:1"}, "a");
  TestImage b = sample_image(Compression::kGzip, {"beta:2"}, "b");
  std::string tar = write_tar(oci_layout({a, b}));
  TestHandler handler;
  auto none = import_bytes(tar, handler);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message().find("alpha:1, beta:2"), std::string::npos)
      << none.error().message();
  ImportOptions options;
  options.ref = "alpha:1";
  TestHandler h2;
  auto got = import_bytes(tar, h2, options);
  ASSERT_TRUE(got.ok()) << got.error().message();
  expect_layers(*got, a, h2);
  EXPECT_EQ(unused_handles(*got, h2).size(), 2u);  // the top layer is shared
}

TEST(ArchiveImport, MultiPlatformIndex) {
  TestImage amd = sample_image(Compression::kGzip, {}, "amd");
  TestImage arm = make_image(sample_image(Compression::kGzip, {}, "arm").layers, {}, "arm64");
  std::string tar = write_tar(oci_multi_platform({amd, arm}, "example/multi:1"));
  ImportOptions options;
  options.platform = *oci::parse_platform("linux/arm64");
  TestHandler handler;
  auto got = import_bytes(tar, handler, options);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->name, "example/multi:1");
  EXPECT_EQ(got->manifest_digest, arm.manifest_digest);
  EXPECT_EQ(got->config.architecture, "arm64");
  expect_layers(*got, arm, handler);
  EXPECT_EQ(unused_handles(*got, handler).size(), 2u);  // the top layer is shared

  options.platform = *oci::parse_platform("linux/amd64");
  TestHandler h2;
  got = import_bytes(tar, h2, options);
  ASSERT_TRUE(got.ok()) << got.error().message();
  expect_layers(*got, amd, h2);

  options.platform = *oci::parse_platform("linux/riscv64");
  TestHandler h3;
  got = import_bytes(tar, h3, options);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().kind(), ErrorKind::kTarball);
  EXPECT_NE(got.error().message().find("linux/amd64, linux/arm64"), std::string::npos)
      << got.error().message();
}

// Some writers list the platform manifests directly in index.json.
TEST(ArchiveImport, PlatformEntriesAtTopLevel) {
  TestImage amd = sample_image(Compression::kNone, {}, "amd");
  TestImage arm = make_image(sample_image(Compression::kNone, {}, "arm").layers, {}, "arm64");
  Members m = oci_multi_platform({amd, arm}, "x");
  Json index = Json::parse(find_member(m, "index.json")->data);
  std::string nested_path = "blobs/sha256/" + hex_of(index["manifests"][0]["digest"]);
  index["manifests"] = Json::parse(find_member(m, nested_path)->data)["manifests"];
  find_member(m, "index.json")->data = index.dump();
  ImportOptions options;
  options.platform = *oci::parse_platform("linux/arm64/v8");
  TestHandler handler;
  auto got = import_bytes(write_tar(m), handler, options);
  ASSERT_TRUE(got.ok()) << got.error().message();
  expect_layers(*got, arm, handler);
}

// Docker's empty layer (just the end marker) sniffs as a tar and streams; a
// zero-byte layer does not, so it is kept in memory and converted at the end.
TEST(ArchiveImport, EmptyLayersStreamedOrKeptInMemory) {
  auto raw_layer = [](std::string bytes) {
    TestLayer l;
    l.tar = l.blob = std::move(bytes);
    l.diff_id = l.digest = io::sha256_digest(l.tar);
    l.media_type = "application/vnd.oci.image.layer.v1.tar";
    return l;
  };
  TestImage img = sample_image(Compression::kNone);
  img.layers.insert(img.layers.begin() + 1, raw_layer(std::string(1024, '\0')));
  img.layers.push_back(raw_layer(""));
  seal(img);
  TestHandler handler;
  auto got = import_bytes(write_tar(docker_classic({img})), handler);
  ASSERT_TRUE(got.ok()) << got.error().message();
  expect_layers(*got, img, handler);
  ASSERT_EQ(handler.calls.size(), 5u);
  // The zero-byte layer reached the handler last: after the archive had ended.
  EXPECT_EQ(handler.calls.back().path, got->layers.back().member_path);
  EXPECT_EQ(handler.calls[1].path, got->layers[1].member_path);
}

TEST(ArchiveImport, LargeUnknownMemberGoesToHandlerAndFailureIsHarmless) {
  TestImage img = sample_image(Compression::kGzip);
  Members m = docker_classic({img});
  m.insert(m.begin(), Member{"README.txt", std::string(3000, 'x')});
  ImportOptions options;
  options.max_document_bytes = 2048;
  TestHandler handler;
  auto got = import_bytes(write_tar(m), handler, options);
  ASSERT_TRUE(got.ok()) << got.error().message();
  expect_layers(*got, img, handler);
  EXPECT_EQ(handler.calls.size(), 3u);  // README.txt was offered and refused by the handler
}

TEST(ArchiveImport, HandlerFailureOnUnusedBlobIsIgnored) {
  TestImage a = sample_image(Compression::kGzip, {"a:1"}, "a");
  TestImage b = sample_image(Compression::kGzip, {"b:1"}, "b");
  TestHandler handler;
  handler.fail_on = hex_of(a.layers[1].digest);  // a layer only `a` has
  ImportOptions options;
  options.ref = "b:1";
  auto got = import_bytes(write_tar(oci_layout({a, b})), handler, options);
  ASSERT_TRUE(got.ok()) << got.error().message();
  expect_layers(*got, b, handler);
}

TEST(ArchiveImport, LaterMemberReplacesEarlier) {
  TestImage old_img = sample_image(Compression::kNone, {"app:1"}, "old");
  TestImage img = sample_image(Compression::kNone, {"app:1"});
  Members m = docker_classic({old_img});
  m.pop_back();  // drop the first manifest.json
  for (Member& x : docker_classic({img})) m.push_back(x);
  TestHandler handler;
  auto got = import_bytes(write_tar(m), handler);
  ASSERT_TRUE(got.ok()) << got.error().message();
  expect_layers(*got, img, handler);
  EXPECT_FALSE(unused_handles(*got, handler).empty());
}

TEST(ArchiveImport, MemberPathsAreNormalized) {
  TestImage img = sample_image(Compression::kGzip);
  Members m = oci_layout({img});
  for (Member& x : m) x.path = "./" + x.path;
  TestHandler handler;
  auto got = import_bytes(write_tar(m), handler);
  ASSERT_TRUE(got.ok()) << got.error().message();
  expect_layers(*got, img, handler);
  EXPECT_EQ(got->layers[0].member_path, "blobs/sha256/" + hex_of(img.layers[0].digest));
}

}  // namespace
}  // namespace vmimage::archive::testing
