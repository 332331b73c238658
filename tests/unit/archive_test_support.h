// Test helpers for the archive importer: an in-memory tar writer, image and
// archive builders for each format (docker save classic and 25+, OCI layout),
// and a BlobHandler that decompresses and hashes each layer like the real one.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "compress_util.h"
#include <nlohmann/json.hpp>

#include "io/decompress.h"
#include "io/reader.h"
#include "io/sha256.h"
#include "source/archive/archive.h"

namespace vmimage::archive::testing {

using vmimage::testing::gzip;
using vmimage::testing::zstd;

using Json = nlohmann::json;

// ---- tar writing ----

struct Member {
  std::string path;
  std::string data;
  char type = 'f';  // 'f' file, 'd' directory, 'l' symlink, 'h' hardlink
  std::string target;
  int mode = 0644;
};
using Members = std::vector<Member>;

inline la_ssize_t append_to_string(struct archive*, void* client, const void* buf, size_t n) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

inline std::string write_tar(const Members& members) {
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open(a, &out, nullptr, append_to_string, nullptr);
  for (const Member& m : members) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, m.path.c_str());
    archive_entry_set_perm(e, m.mode);
    archive_entry_set_mtime(e, 1700000000, 0);
    if (m.type == 'd') {
      archive_entry_set_filetype(e, AE_IFDIR);
    } else if (m.type == 'l') {
      archive_entry_set_filetype(e, AE_IFLNK);
      archive_entry_set_symlink(e, m.target.c_str());
    } else if (m.type == 'h') {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_hardlink(e, m.target.c_str());
    } else {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_size(e, static_cast<la_int64_t>(m.data.size()));
    }
    EXPECT_EQ(archive_write_header(a, e), ARCHIVE_OK) << archive_error_string(a);
    if (m.type == 'f' && !m.data.empty()) {
      EXPECT_EQ(archive_write_data(a, m.data.data(), m.data.size()),
                static_cast<la_ssize_t>(m.data.size()));
    }
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

inline std::string compress(const std::string& data, io::Compression c) {
  if (c == io::Compression::kGzip) return gzip(data);
  if (c == io::Compression::kZstd) return zstd(data);
  return data;
}

inline std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

inline std::string hex_of(const std::string& digest) {
  return digest.substr(7);
}

// ---- images ----

struct TestLayer {
  std::string tar;   // uncompressed
  std::string blob;  // as stored
  io::Compression compression = io::Compression::kNone;
  std::string diff_id;
  std::string digest;
  std::string media_type;
};

inline TestLayer make_layer(const Members& entries, io::Compression c = io::Compression::kNone) {
  TestLayer l;
  l.tar = write_tar(entries);
  l.blob = compress(l.tar, c);
  l.compression = c;
  l.diff_id = io::sha256_digest(l.tar);
  l.digest = io::sha256_digest(l.blob);
  l.media_type = c == io::Compression::kGzip   ? "application/vnd.oci.image.layer.v1.tar+gzip"
                 : c == io::Compression::kZstd ? "application/vnd.oci.image.layer.v1.tar+zstd"
                                               : "application/vnd.oci.image.layer.v1.tar";
  return l;
}

struct TestImage {
  std::vector<TestLayer> layers;
  std::vector<std::string> tags;
  std::string arch = "amd64";
  std::string config;
  std::string config_digest;
  std::string manifest;  // OCI manifest JSON
  std::string manifest_digest;
};

inline void seal(TestImage& img) {
  Json diff_ids = Json::array();
  for (const TestLayer& l : img.layers) diff_ids.push_back(l.diff_id);
  Json config = {{"architecture", img.arch},
                 {"os", "linux"},
                 {"config", {{"Cmd", {"/bin/sh"}}, {"Env", {"PATH=/bin"}}}},
                 {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}};
  img.config = config.dump();
  img.config_digest = io::sha256_digest(img.config);
  Json layers = Json::array();
  for (const TestLayer& l : img.layers) {
    layers.push_back({{"mediaType", l.media_type}, {"digest", l.digest}, {"size", l.blob.size()}});
  }
  Json manifest = {{"schemaVersion", 2},
                   {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                   {"config",
                    {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                     {"digest", img.config_digest},
                     {"size", img.config.size()}}},
                   {"layers", layers}};
  img.manifest = manifest.dump(2);
  img.manifest_digest = io::sha256_digest(img.manifest);
}

inline TestImage make_image(std::vector<TestLayer> layers, std::vector<std::string> tags,
                            std::string arch = "amd64") {
  TestImage img;
  img.layers = std::move(layers);
  img.tags = std::move(tags);
  img.arch = std::move(arch);
  seal(img);
  return img;
}

// A three-layer image: base files, a whiteout and a new file, then an opaque dir.
inline TestImage sample_image(io::Compression c, std::vector<std::string> tags = {"example/app:v1"},
                              const std::string& salt = "") {
  TestLayer base = make_layer({{"etc", "", 'd', "", 0755},
                               {"etc/os-release", "NAME=test" + salt + "\n"},
                               {"data", "", 'd', "", 0755},
                               {"data/keep", "keep"},
                               {"data/gone", "gone"},
                               {"opq", "", 'd', "", 0755},
                               {"opq/old", "old"}},
                              c);
  TestLayer second = make_layer({{"data/.wh.gone", ""}, {"data/new", "new" + salt}}, c);
  TestLayer third = make_layer({{"opq", "", 'd', "", 0755},
                                {"opq/.wh..wh..opq", ""},
                                {"opq/fresh", "fresh"},
                                {"bin", "", 'd', "", 0755},
                                {"bin/tool", "#!/bin/sh\n", 'f', "", 0755}},
                               c);
  return make_image({base, second, third}, std::move(tags));
}

// ---- archive layouts ----

inline std::string layer_dir(const TestLayer& l) {
  return hex_of(io::sha256_digest(l.digest + "id"));
}

// docker save before 25: <id>/layer.tar, <config hex>.json, repositories, manifest.json last.
inline Members docker_classic(const std::vector<TestImage>& images) {
  Members m;
  std::set<std::string> written;
  Json manifest = Json::array();
  Json repositories = Json::object();
  for (const TestImage& img : images) {
    Json layers = Json::array();
    for (const TestLayer& l : img.layers) {
      std::string dir = layer_dir(l);
      if (written.insert(dir).second) {
        m.push_back({dir, "", 'd', "", 0755});
        m.push_back({dir + "/VERSION", "1.0"});
        m.push_back({dir + "/json", "{\"id\":\"" + dir + "\"}"});
        m.push_back({dir + "/layer.tar", l.blob});
      }
      layers.push_back(dir + "/layer.tar");
    }
    std::string config_path = hex_of(img.config_digest) + ".json";
    if (written.insert(config_path).second) m.push_back({config_path, img.config});
    manifest.push_back({{"Config", config_path}, {"RepoTags", img.tags}, {"Layers", layers}});
    for (const std::string& tag : img.tags) {
      size_t colon = tag.rfind(':');
      repositories[tag.substr(0, colon)][tag.substr(colon + 1)] = layer_dir(img.layers.back());
    }
  }
  m.push_back({"repositories", repositories.dump()});
  m.push_back({"manifest.json", manifest.dump()});
  return m;
}

inline void add_blob(Members& m, std::set<std::string>& written, const std::string& digest,
                     const std::string& data) {
  std::string path = "blobs/sha256/" + hex_of(digest);
  if (written.insert(path).second) m.push_back({path, data, 'f', "", 0444});
}

inline void add_image_blobs(Members& m, std::set<std::string>& written, const TestImage& img) {
  for (const TestLayer& l : img.layers) add_blob(m, written, l.digest, l.blob);
  add_blob(m, written, img.config_digest, img.config);
  add_blob(m, written, img.manifest_digest, img.manifest);
}

inline Json descriptor(const std::string& media_type, const std::string& digest, size_t size) {
  return {{"mediaType", media_type}, {"digest", digest}, {"size", size}};
}

// An OCI image layout: one index.json entry per image, named by its first tag.
inline Members oci_layout(const std::vector<TestImage>& images) {
  Members m;
  std::set<std::string> written;
  m.push_back({"blobs", "", 'd', "", 0755});
  m.push_back({"blobs/sha256", "", 'd', "", 0755});
  Json entries = Json::array();
  for (const TestImage& img : images) {
    add_image_blobs(m, written, img);
    Json d = descriptor("application/vnd.oci.image.manifest.v1+json", img.manifest_digest,
                        img.manifest.size());
    if (!img.tags.empty()) d["annotations"] = {{"org.opencontainers.image.ref.name", img.tags[0]}};
    entries.push_back(d);
  }
  m.push_back({"oci-layout", R"({"imageLayoutVersion":"1.0.0"})"});
  m.push_back({"index.json", Json({{"schemaVersion", 2}, {"manifests", entries}}).dump()});
  return m;
}

// A multi-platform image: index.json -> one image index -> a manifest per platform.
inline Members oci_multi_platform(const std::vector<TestImage>& platforms,
                                  const std::string& name) {
  Members m;
  std::set<std::string> written;
  Json manifests = Json::array();
  for (const TestImage& img : platforms) {
    add_image_blobs(m, written, img);
    Json d = descriptor("application/vnd.oci.image.manifest.v1+json", img.manifest_digest,
                        img.manifest.size());
    d["platform"] = {{"os", "linux"}, {"architecture", img.arch}};
    manifests.push_back(d);
  }
  std::string index = Json({{"schemaVersion", 2},
                            {"mediaType", "application/vnd.oci.image.index.v1+json"},
                            {"manifests", manifests}})
                          .dump();
  add_blob(m, written, io::sha256_digest(index), index);
  Json top =
      descriptor("application/vnd.oci.image.index.v1+json", io::sha256_digest(index), index.size());
  top["annotations"] = {{"org.opencontainers.image.ref.name", name}};
  m.push_back({"oci-layout", R"({"imageLayoutVersion":"1.0.0"})"});
  m.push_back({"index.json", Json({{"schemaVersion", 2}, {"manifests", {top}}}).dump()});
  return m;
}

// docker save from Docker 25+: an OCI layout plus manifest.json (last) whose
// paths point into blobs/.
inline Members docker25(const std::vector<TestImage>& images) {
  Members m;
  std::set<std::string> written;
  Json entries = Json::array();
  Json manifest = Json::array();
  for (const TestImage& img : images) {
    add_image_blobs(m, written, img);
    Json d = descriptor("application/vnd.oci.image.manifest.v1+json", img.manifest_digest,
                        img.manifest.size());
    if (!img.tags.empty()) {
      d["annotations"] = {
          {"io.containerd.image.name", img.tags[0]},
          {"org.opencontainers.image.ref.name", img.tags[0].substr(img.tags[0].rfind(':') + 1)}};
    }
    entries.push_back(d);
    Json layers = Json::array();
    for (const TestLayer& l : img.layers) layers.push_back("blobs/sha256/" + hex_of(l.digest));
    manifest.push_back({{"Config", "blobs/sha256/" + hex_of(img.config_digest)},
                        {"RepoTags", img.tags},
                        {"Layers", layers}});
  }
  m.push_back({"oci-layout", R"({"imageLayoutVersion":"1.0.0"})"});
  m.push_back({"index.json", Json({{"schemaVersion", 2},
                                   {"mediaType", "application/vnd.oci.image.index.v1+json"},
                                   {"manifests", entries}})
                                 .dump()});
  m.push_back({"manifest.json", manifest.dump()});
  return m;
}

inline Member* find_member(Members& m, const std::string& path) {
  for (Member& x : m) {
    if (x.path == path) return &x;
  }
  return nullptr;
}

inline void remove_member(Members& m, const std::string& path) {
  std::erase_if(m, [&](const Member& x) { return x.path == path; });
}

// Writes the members below `dir` (a directory import).
inline void write_dir(const Members& members, const std::filesystem::path& dir) {
  for (const Member& m : members) {
    std::filesystem::path p = dir / m.path;
    std::filesystem::create_directories(p.parent_path());
    if (m.type == 'd') {
      std::filesystem::create_directories(p);
    } else if (m.type == 'l') {
      std::filesystem::create_symlink(m.target, p);
    } else if (m.type == 'h') {
      std::filesystem::create_hard_link(dir / m.target, p);
    } else {
      std::ofstream(p, std::ios::binary) << m.data;
    }
  }
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "vmimage-archive-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

// ---- the handler ----

// Decompresses by magic, lists the tar's entries and hashes it: the DiffID.
class TestHandler : public BlobHandler {
 public:
  struct Seen {
    std::string path;
    std::string diff_id;
    io::Compression compression = io::Compression::kNone;
    std::vector<std::string> entries;
  };

  Result<ConvertedBlob> on_blob(const std::string& path, io::Reader& stream) override {
    if (fail_on && path.find(*fail_on) != std::string::npos) {
      return Error(ErrorKind::kLayerFs, "test handler refuses " + path);
    }
    if (lazy_diff_id) {
      std::byte head[100];
      VMI_TRY(size_t n, io::read_full(stream, head));
      (void)n;
      calls.push_back(Seen{path, lazy_diff_id(path), io::Compression::kNone, {}});
      return ConvertedBlob{calls.back().diff_id, kFirstHandle + calls.size() - 1};
    }
    VMI_TRY(io::Decompressed d, io::open_decompressed(std::make_unique<Borrowed>(stream), path));
    io::HashingReader hashing(std::move(d.reader), path);
    Seen seen{path, "", d.compression, {}};
    VMI_CHECK(list_entries(hashing, seen.entries));
    VMI_CHECK(io::drain(hashing));
    seen.diff_id = hashing.digest();
    calls.push_back(seen);
    return ConvertedBlob{seen.diff_id, kFirstHandle + calls.size() - 1};
  }

  const Seen& by_handle(uint64_t handle) const { return calls.at(handle - kFirstHandle); }

  static constexpr uint64_t kFirstHandle = 1000;
  std::vector<Seen> calls;
  std::optional<std::string> fail_on;
  // When set: read only the first 100 bytes and claim this DiffID (the walker
  // must read the rest itself).
  std::function<std::string(const std::string& path)> lazy_diff_id;

 private:
  class Borrowed : public io::Reader {
   public:
    explicit Borrowed(io::Reader& r) : r_(r) {}
    Result<size_t> read(std::span<std::byte> buf) override { return r_.read(buf); }

   private:
    io::Reader& r_;
  };

  struct ReadState {
    io::Reader* reader;
    std::vector<std::byte> buf = std::vector<std::byte>(65536);
    std::string error;
  };
  static la_ssize_t read_cb(struct archive*, void* client, const void** out) {
    auto* s = static_cast<ReadState*>(client);
    auto n = s->reader->read(s->buf);
    if (!n.ok()) {
      s->error = n.error().message();
      return -1;
    }
    *out = s->buf.data();
    return static_cast<la_ssize_t>(*n);
  }

  static std::string why(struct archive* a) {
    const char* s = archive_error_string(a);
    return s ? s : "";
  }

  static Status list_entries(io::Reader& tar, std::vector<std::string>& entries) {
    struct archive* a = archive_read_new();
    archive_read_support_format_tar(a);
    archive_read_support_format_empty(a);
    ReadState state{&tar};
    Status result;
    if (archive_read_open(a, &state, nullptr, read_cb, nullptr) != ARCHIVE_OK) {
      result = Error(ErrorKind::kExtract, "layer is not a tar: " + state.error + " " + why(a));
    }
    struct archive_entry* e;
    while (result.ok()) {
      int rc = archive_read_next_header(a, &e);
      if (rc == ARCHIVE_EOF) break;
      if (rc != ARCHIVE_OK) {
        result = Error(ErrorKind::kExtract, "layer tar: " + state.error + " " + why(a));
        break;
      }
      entries.push_back(archive_entry_pathname(e));
    }
    archive_read_free(a);
    return result;
  }
};

// Feeds `bytes` through a pipe from another thread: the importer must manage
// with a stream it cannot seek or re-read.
inline Result<ImportedImage> import_through_pipe(const std::string& bytes, BlobHandler& handler,
                                                 const ImportOptions& options) {
  ::signal(SIGPIPE, SIG_IGN);
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  std::thread writer([&bytes, fd = fds[1]] {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::write(fd, bytes.data() + off, std::min<size_t>(bytes.size() - off, 4096 * 7));
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::close(fd);
  });
  Result<ImportedImage> result = Error(ErrorKind::kInternal, "not run");
  {
    io::FdReader reader(UniqueFd(fds[0]), "pipe");
    result = import_archive(reader, handler, options);
  }  // closing the read end unblocks a writer the importer stopped reading from
  writer.join();
  return result;
}

inline Result<ImportedImage> import_bytes(const std::string& bytes, BlobHandler& handler,
                                          const ImportOptions& options = {}) {
  io::MemoryReader reader(bytes);
  return import_archive(reader, handler, options);
}

}  // namespace vmimage::archive::testing
