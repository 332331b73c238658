// Helpers for the store tests: a scratch cache dir, blobs with known contents
// produced through the real write protocol, and small image descriptions.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/sha256.h"
#include "util/file.h"
#include "vmimage/store.h"

namespace vmimage::testing {

// A valid, distinct digest per name ("sha256:" + sha256(name)).
inline std::string digest_of(const std::string& name) {
  return io::sha256_digest("key:" + name);
}

// The bytes a test blob holds: `size` bytes derived from its name.
inline std::string blob_content(const std::string& name, size_t size = 4096) {
  std::string out;
  out.reserve(size);
  while (out.size() < size) out += name + ";";
  out.resize(size);
  return out;
}

inline BlobProducer write_content(std::string content) {
  return [content = std::move(content)](int fd, const std::string& path) -> Status {
    return write_all(fd, std::as_bytes(std::span(content)), path);
  };
}

// Produces (or reuses) the blob `name` under a lease.
inline LayerRef put_blob(Lease& lease, const std::string& name, size_t size = 4096,
                         FsType fs_type = FsType::kErofs) {
  auto ref = lease.ensure_blob(digest_of(name), fs_type, write_content(blob_content(name, size)));
  EXPECT_TRUE(ref.ok()) << (ref.ok() ? "" : ref.error().describe());
  return ref.ok() ? *ref : LayerRef{};
}

inline LayerRef ref_of(const std::string& name, FsType fs_type = FsType::kErofs) {
  return LayerRef{digest_of(name), fs_type, 0, {}};
}

// canonical: the named per-layer blobs; runtime: the named lowers (empty: canonical).
inline ImageLayers layers_of(const std::vector<std::string>& canonical,
                             const std::vector<std::string>& runtime = {}) {
  ImageLayers layers;
  for (const auto& n : canonical) layers.canonical.push_back(ref_of(n));
  for (const auto& n : runtime) layers.runtime.push_back(ref_of(n));
  return layers;
}

inline ImageMeta meta_of(const std::string& digest_name,
                         ImageSource source = ImageSource::kRegistry) {
  ImageMeta meta;
  meta.digest = io::sha256_digest("manifest:" + digest_name);
  meta.source = source;
  meta.oci.user = "1000:1000";
  meta.oci.working_dir = "/app";
  meta.oci.entrypoint = {"/bin/sh", "-c"};
  meta.oci.cmd = {"echo hi"};
  meta.oci.env = {{"PATH", "/usr/bin:/bin"}, {"LANG", "C.UTF-8"}};
  return meta;
}

inline std::vector<std::string> dir_names(const std::string& dir) {
  std::vector<std::string> names;
  if (!std::filesystem::exists(dir)) return names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmimage-store.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Store open_store(StoreOptions options = {}) {
    if (options.cache_dir.empty()) options.cache_dir = dir_ + "/cache";
    auto store = Store::open(std::move(options));
    if (!store.ok()) ADD_FAILURE() << store.error().describe();
    return std::move(store).value();
  }

  std::string cache() const { return dir_ + "/cache"; }
  std::string dir_;
};

// Runs `body` in a forked child; returns its exit status (the child never returns).
template <typename F>
pid_t fork_child(F&& body) {
  pid_t pid = ::fork();
  if (pid == 0) {
    int code = 1;
    try {
      code = body();
    } catch (...) {
      code = 99;
    }
    ::_exit(code);
  }
  return pid;
}

inline int wait_exit(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace vmimage::testing
