// An in-memory OCI-distribution registry on a FakeServer: manifests by tag and
// digest, blobs with Range support (switchable), and a hook to inject faults
// or demand authentication before the normal answer.
#pragma once

#include <zlib.h>
#include <zstd.h>

#include <nlohmann/json.hpp>

#include "compress_util.h"
#include "oci/digest.h"
#include "oci/media_types.h"
#include "registry_fake_server.h"
#include "source/registry/client.h"

namespace vmimage::testing {

inline std::string gzip_bytes(const std::string& data) { return gzip(data); }
inline std::string zstd_bytes(const std::string& data) { return zstd(data); }

// Deterministic, partly compressible bytes.
inline std::string test_bytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    s[i] = static_cast<char>((i / 64) % 3 == 0 ? 'a' + (i % 7) : (x >> 24));
  }
  return s;
}

struct FakeImage {
  std::string manifest;
  oci::Digest digest;
  std::vector<std::string> tars;
  std::vector<oci::Digest> diff_ids;
  std::vector<oci::Digest> layer_digests;
};

class FakeRegistry {
 public:
  using Hook = std::function<std::optional<FakeResponse>(const FakeRequest&)>;

  FakeRegistry() : server_([this](const FakeRequest& r) { return handle(r); }) {}

  std::string host() const { return server_.host(); }
  FakeServer& server() { return server_; }
  void set_hook(Hook hook) {
    std::lock_guard lock(mu_);
    hook_ = std::move(hook);
  }
  void set_range_support(bool on) { range_ = on; }

  oci::Digest add_blob(const std::string& repo, std::string data) {
    oci::Digest d = oci::Digest::of(data);
    std::lock_guard lock(mu_);
    paths_["/v2/" + repo + "/blobs/" + d.str()] = {
        "application/octet-stream", std::make_shared<const std::string>(std::move(data))};
    return d;
  }
  void add_manifest(const std::string& repo, const std::string& ref, std::string type,
                    std::string body) {
    std::lock_guard lock(mu_);
    paths_["/v2/" + repo + "/manifests/" + ref] = {
        std::move(type), std::make_shared<const std::string>(std::move(body))};
  }

  // An image whose layers are `tars`, stored gzip, zstd, raw, gzip, ...
  FakeImage add_image(const std::string& repo, const std::string& tag,
                      const std::vector<std::string>& tars, std::string arch = "amd64") {
    FakeImage img;
    nlohmann::json layers = nlohmann::json::array();
    nlohmann::json diff_ids = nlohmann::json::array();
    for (size_t i = 0; i < tars.size(); ++i) {
      std::string blob = i % 3 == 0   ? gzip_bytes(tars[i])
                         : i % 3 == 1 ? zstd_bytes(tars[i])
                                      : tars[i];
      std::string_view type = i % 3 == 0   ? oci::kOciLayerGzip
                              : i % 3 == 1 ? oci::kOciLayerZstd
                                           : oci::kOciLayerTar;
      size_t size = blob.size();
      oci::Digest d = add_blob(repo, std::move(blob));
      layers.push_back({{"mediaType", type}, {"digest", d.str()}, {"size", size}});
      img.diff_ids.push_back(oci::Digest::of(tars[i]));
      img.layer_digests.push_back(d);
      diff_ids.push_back(img.diff_ids.back().str());
    }
    nlohmann::json config = {{"architecture", arch},
                             {"os", "linux"},
                             {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}},
                             {"config", {{"Cmd", {"/bin/sh"}}}}};
    std::string config_bytes = config.dump();
    oci::Digest cd = add_blob(repo, config_bytes);
    nlohmann::json manifest = {
        {"schemaVersion", 2},
        {"mediaType", oci::kOciManifest},
        {"config",
         {{"mediaType", oci::kOciConfig}, {"digest", cd.str()}, {"size", config_bytes.size()}}},
        {"layers", layers}};
    img.manifest = manifest.dump();
    img.digest = oci::Digest::of(img.manifest);
    img.tars = tars;
    add_manifest(repo, tag, std::string(oci::kOciManifest), img.manifest);
    add_manifest(repo, img.digest.str(), std::string(oci::kOciManifest), img.manifest);
    return img;
  }

 private:
  FakeResponse handle(const FakeRequest& r) {
    Hook hook;
    {
      std::lock_guard lock(mu_);
      hook = hook_;
    }
    if (hook) {
      if (auto answer = hook(r)) return *answer;
    }
    if (r.target == "/v2/") return json_response(200, "{}");
    std::pair<std::string, std::shared_ptr<const std::string>> found;
    {
      std::lock_guard lock(mu_);
      auto it = paths_.find(r.target);
      if (it == paths_.end()) {
        return json_response(404, R"({"errors":[{"code":"BLOB_UNKNOWN","message":"unknown"}]})");
      }
      found = it->second;
    }
    FakeResponse resp = json_response(200, "", found.first);
    resp.shared = found.second;
    size_t size = found.second->size();
    std::string range = r.header("range");
    if (range_ && range.rfind("bytes=", 0) == 0) {
      size_t start = std::min<size_t>(std::stoul(range.substr(6)), size);
      resp.status = 206;
      resp.headers.emplace_back("Content-Range", "bytes " + std::to_string(start) + "-" +
                                                     std::to_string(size - 1) + "/" +
                                                     std::to_string(size));
      resp.offset = start;
    }
    return resp;
  }

  std::mutex mu_;
  std::map<std::string, std::pair<std::string, std::shared_ptr<const std::string>>> paths_;
  Hook hook_;
  std::atomic<bool> range_{true};
  FakeServer server_;  // last: stops before the maps above go away
};

// Options for fast tests: short backoff and stall timeout, fixed credentials.
inline registry::ClientOptions fast_options(
    std::optional<registry::Credential> cred = std::nullopt) {
  registry::ClientOptions o;
  o.limits.max_retries = 4;
  o.retry.initial_backoff = std::chrono::milliseconds(10);
  o.retry.max_backoff = std::chrono::milliseconds(50);
  o.limits.stall_timeout = std::chrono::seconds(1);
  o.credentials = [cred](std::string_view, std::string_view) {
    return Result<std::optional<registry::Credential>>(cred);
  };
  return o;
}

inline Result<std::string> read_stream(io::Reader& r) {
  return io::read_all(r, 1u << 30);
}

}  // namespace vmimage::testing
