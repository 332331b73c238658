// The importer over archives real tools wrote: tests/tools/archive/make_archives.sh
// builds an image with umoci and exports it with skopeo (docker-archive,
// oci-archive gzip/zstd/plain, OCI directory) plus Docker 25+, multi-image,
// multi-platform and broken archives. One test: the archives take seconds to make.
#include <cstdlib>

#include "archive_test_support.h"

namespace vmimage::archive::testing {
namespace {

const std::filesystem::path kSourceDir =
    std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();

struct Imported {
  Result<ImportedImage> image = Error(ErrorKind::kInternal, "not imported");
  TestHandler handler;
};

std::unique_ptr<Imported> import_path(const std::filesystem::path& path,
                                      ImportOptions options = {}) {
  auto out = std::make_unique<Imported>();
  if (std::filesystem::is_directory(path)) {
    out->image = import_directory(path.string(), out->handler, options);
  } else {
    auto reader = io::FdReader::open(path.string());
    EXPECT_TRUE(reader.ok());
    out->image = import_archive(**reader, out->handler, options);
  }
  return out;
}

bool has_entry(const TestHandler& handler, const LayerBlob& layer, const std::string& entry) {
  const auto& entries = handler.by_handle(layer.handle).entries;
  return std::find(entries.begin(), entries.end(), entry) != entries.end();
}

// The app image: files, then a whiteout and a removed directory, then big.bin.
void expect_app(const Imported& got, const std::vector<std::string>& diff_ids,
                io::Compression compression) {
  ASSERT_TRUE(got.image.ok()) << got.image.error().message();
  const ImportedImage& img = *got.image;
  ASSERT_EQ(img.layers.size(), 3u);
  std::vector<std::string> ids;
  for (const LayerBlob& l : img.layers) {
    ids.push_back(l.diff_id);
    EXPECT_EQ(l.compression, compression);
  }
  if (!diff_ids.empty()) {
    EXPECT_EQ(ids, diff_ids);
  }
  EXPECT_TRUE(has_entry(got.handler, img.layers[0], "usr/bin/hello"));
  EXPECT_TRUE(has_entry(got.handler, img.layers[0], "data/remove-me"));
  EXPECT_TRUE(has_entry(got.handler, img.layers[1], "data/.wh.remove-me"));
  EXPECT_TRUE(has_entry(got.handler, img.layers[1], "opq/.wh.sub"));
  EXPECT_TRUE(has_entry(got.handler, img.layers[2], "data/big.bin"));
  EXPECT_EQ(img.config.config.cmd, std::vector<std::string>{"/usr/bin/hello"});
  EXPECT_EQ(got.handler.calls.size(), img.layers.size());  // every blob converted is used
}

TEST(ArchiveTools, ArchivesWrittenByUmociAndSkopeo) {
  TempDir dir;
  std::string cmd = "bash '" + (kSourceDir / "tests/tools/archive/make_archives.sh").string() +
                    "' '" + dir.path.string() + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "make_archives.sh failed: " << cmd;
  auto at = [&](const char* name) { return dir.path / name; };
  using io::Compression;
  const std::string app = "example.com/test/app";

  // docker-archive: uncompressed layers, two tags, so no single name.
  auto docker = import_path(at("docker-archive.tar"));
  {
    SCOPED_TRACE("docker-archive");
    expect_app(*docker, {}, Compression::kNone);
    EXPECT_EQ(docker->image->name, "");
    EXPECT_EQ(docker->image->names, (std::vector<std::string>{app + ":v1", app + ":latest"}));
    EXPECT_TRUE(docker->image->manifest_synthesized);
  }
  ASSERT_TRUE(docker->image.ok());
  std::vector<std::string> diff_ids;
  for (const LayerBlob& l : docker->image->layers) diff_ids.push_back(l.diff_id);

  ImportOptions latest;
  latest.ref = app + ":latest";
  auto tagged = import_path(at("docker-archive.tar"), latest);
  ASSERT_TRUE(tagged->image.ok()) << tagged->image.error().message();
  EXPECT_EQ(tagged->image->name, app + ":latest");

  auto oci_gzip = import_path(at("oci-archive-gzip.tar"));
  {
    SCOPED_TRACE("oci-archive gzip");
    expect_app(*oci_gzip, diff_ids, Compression::kGzip);
    EXPECT_EQ(oci_gzip->image->name, app + ":v1");
    EXPECT_FALSE(oci_gzip->image->manifest_synthesized);
  }
  ASSERT_TRUE(oci_gzip->image.ok());
  const std::string manifest = oci_gzip->image->manifest_digest;

  struct Case {
    const char* file;
    Compression compression;
    bool same_manifest;
  };
  for (const Case& c :
       {Case{"oci-archive-zstd.tar", Compression::kZstd, false},
        Case{"oci-archive-plain.tar", Compression::kNone, false},
        Case{"oci-dir", Compression::kGzip, true}, Case{"docker25.tar", Compression::kGzip, true},
        Case{"oci-archive-gzip.tar.zst", Compression::kGzip, true},
        Case{"docker-archive.tar.gz", Compression::kNone, false}}) {
    SCOPED_TRACE(c.file);
    auto got = import_path(at(c.file));
    expect_app(*got, diff_ids, c.compression);
    if (!got->image.ok()) continue;
    if (c.same_manifest) {
      EXPECT_EQ(got->image->manifest_digest, manifest);
    } else {
      EXPECT_NE(got->image->manifest_digest, manifest);
    }
  }

  {
    SCOPED_TRACE("through a pipe");
    std::ifstream in(at("docker-archive.tar.gz"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Imported piped;
    piped.image = import_through_pipe(bytes, piped.handler, latest);
    expect_app(piped, diff_ids, Compression::kNone);
  }

  {
    SCOPED_TRACE("multi-platform");
    ImportOptions arm;
    arm.platform = *oci::parse_platform("linux/arm64");
    auto got = import_path(at("oci-multi-platform.tar"), arm);
    expect_app(*got, diff_ids, Compression::kGzip);
    ASSERT_TRUE(got->image.ok());
    EXPECT_EQ(got->image->config.architecture, "arm64");
    EXPECT_EQ(got->image->name, "example.com/test/multi:v1");
    arm.platform = *oci::parse_platform("linux/amd64");
    got = import_path(at("oci-multi-platform.tar"), arm);
    ASSERT_TRUE(got->image.ok()) << got->image.error().message();
    EXPECT_EQ(got->image->config.architecture, "amd64");
    EXPECT_EQ(got->image->manifest_digest, manifest);
  }

  {
    SCOPED_TRACE("two images");
    auto got = import_path(at("docker-multi.tar"));
    ASSERT_FALSE(got->image.ok());
    EXPECT_NE(got->image.error().message().find("example.com/test/base:v1"), std::string::npos);
    ImportOptions base;
    base.ref = "example.com/test/base:v1";
    got = import_path(at("docker-multi.tar"), base);
    ASSERT_TRUE(got->image.ok()) << got->image.error().message();
    ASSERT_EQ(got->image->layers.size(), 1u);
    EXPECT_EQ(got->image->layers[0].diff_id, diff_ids[0]);
    EXPECT_EQ(got->handler.calls.size(), 3u);  // the other image's two layers were converted too
  }

  const std::vector<std::pair<const char*, const char*>> bad = {
      {"bad-no-manifest.tar", "no manifest.json or index.json"},
      {"bad-null-manifest.tar", "manifest.json is null"},
      {"bad-empty-manifest.tar", "manifest.json is an empty list"},
      {"bad-missing-layer.tar", "layer 3 (manifest.json[0].Layers[2]"},
      {"bad-missing-config.tar", "manifest.json[0].Config: the archive has no file"},
      {"bad-diffid-mismatch.tar", "layer 3 (manifest.json[0].Layers[2]"},
      {"bad-blob-digest-mismatch.tar", "blob digest mismatch"},
      {"bad-truncated.tar", "runcated"},
      {"bad-not-tar.tar", "not a tar archive"},
  };
  for (const auto& [file, text] : bad) {
    SCOPED_TRACE(file);
    auto got = import_path(at(file));
    ASSERT_FALSE(got->image.ok());
    EXPECT_EQ(got->image.error().kind(), ErrorKind::kTarball);
    EXPECT_NE(got->image.error().message().find(text), std::string::npos)
        << got->image.error().message();
  }
}

}  // namespace
}  // namespace vmimage::archive::testing
