// Bad archives: each must fail with a kTarball error that says what is wrong
// (and where), never yield an image.
#include "archive_test_support.h"

namespace vmimage::archive::testing {
namespace {

using io::Compression;

// Imports and expects an error of `kind` whose message contains every part.
void expect_error(const Result<ImportedImage>& got, std::vector<std::string> parts,
                  ErrorKind kind = ErrorKind::kTarball) {
  ASSERT_FALSE(got.ok()) << "imported an image from a bad archive";
  EXPECT_EQ(got.error().kind(), kind) << got.error().message();
  for (const std::string& part : parts) {
    EXPECT_NE(got.error().message().find(part), std::string::npos)
        << "\"" << part << "\" not in: " << got.error().message();
  }
}

Result<ImportedImage> import_members(const Members& m, const ImportOptions& options = {}) {
  TestHandler handler;
  return import_bytes(write_tar(m), handler, options);
}

TEST(ArchiveBadInput, NoManifest) {
  Members m = docker_classic({sample_image(Compression::kNone)});
  remove_member(m, "manifest.json");
  expect_error(import_members(m), {"no manifest.json or index.json", "repositories"});
}

TEST(ArchiveBadInput, NullEmptyAndMalformedManifest) {
  Members m = docker_classic({sample_image(Compression::kNone)});
  find_member(m, "manifest.json")->data = "null";
  expect_error(import_members(m), {"manifest.json is null"});
  find_member(m, "manifest.json")->data = "[]";
  expect_error(import_members(m), {"manifest.json is an empty list"});
  find_member(m, "manifest.json")->data = "{\"Config\":\"x\"}";
  expect_error(import_members(m), {"manifest.json: not a JSON array"});
  find_member(m, "manifest.json")->data = "[{\"Config\":\"x.json\"";
  expect_error(import_members(m), {"manifest.json: not valid JSON"});
  find_member(m, "manifest.json")->data = "[{\"Layers\":[]}]";
  expect_error(import_members(m), {"manifest.json[0].Config", "missing"});
  find_member(m, "manifest.json")->data = R"([{"Config":"../../etc/passwd","Layers":[]}])";
  expect_error(import_members(m), {"not a path inside the archive"});
}

TEST(ArchiveBadInput, MissingLayer) {
  TestImage img = sample_image(Compression::kNone);
  Members m = docker_classic({img});
  std::string path = layer_dir(img.layers[1]) + "/layer.tar";
  remove_member(m, path);
  expect_error(import_members(m), {"layer 2", "manifest.json[0].Layers[1]", "no file " + path});
}

TEST(ArchiveBadInput, MissingConfig) {
  TestImage img = sample_image(Compression::kNone);
  Members m = docker_classic({img});
  remove_member(m, hex_of(img.config_digest) + ".json");
  expect_error(import_members(m), {"manifest.json[0].Config", "no file"});
  Members oci = oci_layout({img});
  remove_member(oci, "blobs/sha256/" + hex_of(img.config_digest));
  expect_error(import_members(oci),
               {"config", "no file blobs/sha256/" + hex_of(img.config_digest)});
}

TEST(ArchiveBadInput, MissingManifestBlob) {
  TestImage img = sample_image(Compression::kGzip);
  Members m = oci_layout({img});
  remove_member(m, "blobs/sha256/" + hex_of(img.manifest_digest));
  expect_error(import_members(m), {img.manifest_digest, "no file"});
}

TEST(ArchiveBadInput, DiffIdMismatch) {
  TestImage img = sample_image(Compression::kGzip);
  TestImage other = sample_image(Compression::kGzip, {}, "other");
  img.layers[1].diff_id = other.layers[1].diff_id;  // the config now lies about layer 2
  seal(img);
  expect_error(import_members(docker_classic({img})),
               {"layer 2", "DiffID mismatch", other.layers[1].diff_id});
}

TEST(ArchiveBadInput, LayerCountMismatch) {
  TestImage img = sample_image(Compression::kNone);
  Members m = docker_classic({img});
  Json manifest = Json::parse(find_member(m, "manifest.json")->data);
  manifest[0]["Layers"].erase(2);
  find_member(m, "manifest.json")->data = manifest.dump();
  expect_error(import_members(m), {"lists 2 layers", "3 rootfs.diff_ids"});
}

TEST(ArchiveBadInput, BlobDigestMismatch) {
  TestImage img = sample_image(Compression::kGzip);
  Members m = oci_layout({img});
  // Change the gzip header's mtime: the layer still decompresses to the same tar
  // (same DiffID) but the blob no longer matches its name and descriptor.
  Member* blob = find_member(m, "blobs/sha256/" + hex_of(img.layers[1].digest));
  blob->data[4] = static_cast<char>(blob->data[4] ^ 0x5a);
  expect_error(import_members(m), {"layer 2", "blob digest mismatch", img.layers[1].digest});
  // The same in a Docker 25 archive, where manifest.json names the blob path.
  Members d = docker25({img});
  find_member(d, "blobs/sha256/" + hex_of(img.layers[1].digest))->data = blob->data;
  expect_error(import_members(d), {"layer 2", "blob digest mismatch"});
}

TEST(ArchiveBadInput, BlobSizeMismatch) {
  TestImage img = sample_image(Compression::kGzip);
  Members m = oci_layout({img});
  Json manifest = Json::parse(img.manifest);
  manifest["layers"][0]["size"] = img.layers[0].blob.size() + 1;
  TestImage lying = img;
  lying.manifest = manifest.dump();
  lying.manifest_digest = io::sha256_digest(lying.manifest);
  Members n = oci_layout({lying});
  expect_error(import_members(n), {"layer 1", "size mismatch"});
}

TEST(ArchiveBadInput, ManifestBlobCorrupt) {
  TestImage img = sample_image(Compression::kGzip);
  Members m = oci_layout({img});
  find_member(m, "blobs/sha256/" + hex_of(img.manifest_digest))->data[0] = ' ';
  expect_error(import_members(m), {"has digest", "not " + img.manifest_digest});
}

TEST(ArchiveBadInput, ConfigBlobCorrupt) {
  TestImage img = sample_image(Compression::kGzip);
  Members m = docker25({img});
  find_member(m, "blobs/sha256/" + hex_of(img.config_digest))->data += " ";
  expect_error(import_members(m), {"config", "has digest"});
}

TEST(ArchiveBadInput, Truncated) {
  TestLayer big = make_layer({{"big.bin", random_bytes(1 << 20, 3)}}, Compression::kNone);
  TestImage img = sample_image(Compression::kNone);
  img.layers.push_back(big);
  seal(img);
  std::string tar = write_tar(docker_classic({img}));
  TestHandler handler;
  // Inside a layer, inside a header and just before the manifest.
  for (size_t cut : {tar.size() / 2, size_t{700}, tar.size() - 1536}) {
    SCOPED_TRACE(cut);
    auto got = import_bytes(tar.substr(0, cut), handler);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error().kind(), ErrorKind::kTarball) << got.error().message();
  }
  auto got = import_bytes(tar.substr(0, tar.size() / 2), handler);
  expect_error(got, {"runcated"});
  // A truncated compressed archive: the decompressor's complaint, as a tarball error.
  expect_error(import_bytes(gzip(tar).substr(0, 4000), handler), {"runcated"});
  expect_error(import_bytes(zstd(tar).substr(0, 4000), handler), {"runcated"});
}

TEST(ArchiveBadInput, NotATar) {
  TestHandler handler;
  expect_error(import_bytes(std::string(5000, 'x'), handler), {"not a tar archive"});
  expect_error(import_bytes("{\"not\": \"a tar\"}", handler), {"not a tar archive"});
  expect_error(import_bytes(gzip(std::string(5000, 'y')), handler), {"not a tar archive"});
  expect_error(import_bytes("BZh91AY&SY", handler), {"bzip2"});
  expect_error(import_bytes("", handler), {"archive is empty"});
}

TEST(ArchiveBadInput, RefMatchesNothing) {
  ImportOptions options;
  options.ref = "nothing:here";
  expect_error(
      import_members(docker_classic({sample_image(Compression::kNone, {"one:1"})}), options),
      {"no image in the archive matches \"nothing:here\"", "it holds: one:1"});
  expect_error(import_members(oci_layout({sample_image(Compression::kNone, {"two:2"})}), options),
               {"it holds: two:2"});
}

TEST(ArchiveBadInput, RefMatchesSeveral) {
  TestImage a = sample_image(Compression::kNone, {"same:1"}, "a");
  TestImage b = sample_image(Compression::kNone, {"same:1"}, "b");
  ImportOptions options;
  options.ref = "same:1";
  expect_error(import_members(docker_classic({a, b}), options),
               {"\"same:1\" matches 2 images", "by digest"});
  options.ref = hex_of(b.config_digest).substr(0, 16);
  TestHandler handler;
  auto got = import_bytes(write_tar(docker_classic({a, b})), handler, options);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_EQ(got->config_digest, b.config_digest);
}

TEST(ArchiveBadInput, UnnamedImagesListedByDigest) {
  TestImage a = sample_image(Compression::kNone, {}, "a");
  TestImage b = sample_image(Compression::kNone, {}, "b");
  expect_error(import_members(docker_classic({a, b})),
               {"<unnamed " + a.config_digest.substr(0, 19) + ">"});
}

TEST(ArchiveBadInput, HandlerFailureOnUsedLayerKeepsItsKind) {
  TestImage img = sample_image(Compression::kGzip);
  TestHandler handler;
  handler.fail_on = hex_of(img.layers[2].digest);
  auto got = import_bytes(write_tar(oci_layout({img})), handler);
  expect_error(got, {"layer 3", "test handler refuses"}, ErrorKind::kLayerFs);
}

TEST(ArchiveBadInput, CorruptLayerData) {
  TestImage img = sample_image(Compression::kGzip);
  Members m = docker_classic({img});
  Member* layer = find_member(m, layer_dir(img.layers[0]) + "/layer.tar");
  layer->data[layer->data.size() - 6] ^= 0x01;  // the gzip CRC
  TestHandler handler;
  auto got = import_bytes(write_tar(m), handler);
  expect_error(got, {"layer 1", "gzip"}, ErrorKind::kExtract);
}

TEST(ArchiveBadInput, NotAnImage) {
  TestImage img = sample_image(Compression::kGzip);
  Json manifest = Json::parse(img.manifest);
  manifest["config"]["mediaType"] = "application/vnd.cncf.helm.config.v1+json";
  img.manifest = manifest.dump();
  img.manifest_digest = io::sha256_digest(img.manifest);
  expect_error(import_members(oci_layout({img})), {"not a container image", "helm"});
  Members m = oci_layout({img});
  find_member(m, "index.json")->data = R"({"schemaVersion":2,"manifests":[]})";
  expect_error(import_members(m), {"index.json lists no image manifest"});
}

TEST(ArchiveBadInput, MetadataCap) {
  Members m = docker_classic({sample_image(Compression::kNone)});
  for (int i = 0; i < 20; ++i)
    m.insert(m.begin(), Member{"junk" + std::to_string(i), std::string(1000, 'j')});
  ImportOptions options;
  options.max_metadata_bytes = 10000;
  expect_error(import_members(m, options), {"exceed 10000 bytes"});
}

TEST(ArchiveBadInput, LinkLoopAndDirectoryEscape) {
  Members m = docker_classic({sample_image(Compression::kNone)});
  Json manifest = Json::parse(find_member(m, "manifest.json")->data);
  manifest[0]["Layers"][0] = "loop/a";
  find_member(m, "manifest.json")->data = manifest.dump();
  m.insert(m.begin(), Member{"loop/a", "", 'l', "b"});
  m.insert(m.begin(), Member{"loop/b", "", 'l', "a"});
  expect_error(import_members(m), {"too many levels of links"});

  TempDir dir;
  TestImage img = sample_image(Compression::kNone);
  Members d = docker_classic({img});
  write_dir(d, dir.path);
  std::filesystem::path outside =
      dir.path.parent_path() / (dir.path.filename().string() + "-outside");
  std::ofstream(outside) << "secret";
  std::string layer = layer_dir(img.layers[0]) + "/layer.tar";
  std::filesystem::remove(dir.path / layer);
  std::filesystem::create_symlink(outside, dir.path / layer);
  TestHandler handler;
  auto got = import_directory(dir.path.string(), handler, {});
  std::filesystem::remove(outside);
  expect_error(got, {"leads outside"});
  expect_error(import_directory((dir.path / "nope").string(), handler, {}), {"nope"});
}

}  // namespace
}  // namespace vmimage::archive::testing
