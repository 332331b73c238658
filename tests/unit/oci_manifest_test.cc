// Manifest, index, image config and platform parsing: valid documents and a
// table of malformed ones, each with the error it must produce.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "oci/image_config.h"
#include "oci/manifest.h"
#include "oci/media_types.h"
#include "oci/platform.h"

namespace vmimage::oci {
namespace {

using nlohmann::json;

std::string digest_of(char c) {
  return "sha256:" + std::string(64, c);
}

json descriptor(std::string_view media_type, char c, int64_t size) {
  return {{"mediaType", media_type}, {"digest", digest_of(c)}, {"size", size}};
}

json oci_manifest() {
  return {{"schemaVersion", 2},
          {"mediaType", kOciManifest},
          {"config", descriptor(kOciConfig, 'c', 123)},
          {"layers",
           json::array({descriptor(kOciLayerGzip, 'a', 10), descriptor(kOciLayerZstd, 'b', 20),
                        descriptor(kOciLayerTar, 'd', 30)})},
          {"annotations", {{"org.opencontainers.image.title", "x"}}}};
}

json entry(std::string_view media_type, char c, std::string os, std::string arch,
           std::string variant = "") {
  json d = descriptor(media_type, c, 500);
  d["platform"] = {{"os", os}, {"architecture", arch}};
  if (!variant.empty()) d["platform"]["variant"] = variant;
  return d;
}

json docker_list() {
  return {{"schemaVersion", 2},
          {"mediaType", kDockerManifestList},
          {"manifests", json::array({entry(kDockerManifest, '1', "linux", "amd64"),
                                     entry(kDockerManifest, '2', "linux", "arm", "v7"),
                                     entry(kDockerManifest, '3', "linux", "arm64", "v8"),
                                     entry(kDockerManifest, '4', "unknown", "unknown")})}};
}

TEST(Manifest, ParsesOci) {
  auto m = parse_manifest(oci_manifest().dump());
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->media_type, kOciManifest);
  EXPECT_EQ(m->config.digest.str(), digest_of('c'));
  EXPECT_EQ(m->config.size, 123);
  ASSERT_EQ(m->layers.size(), 3u);
  EXPECT_EQ(m->layers[1].media_type, kOciLayerZstd);
  EXPECT_EQ(m->layers[2].size, 30);
  EXPECT_EQ(m->annotations.at("org.opencontainers.image.title"), "x");
}

TEST(Manifest, MediaTypeFromContentTypeWhenAbsent) {
  json doc = oci_manifest();
  doc.erase("mediaType");
  auto m = parse_manifest(doc.dump(), "application/vnd.docker.distribution.manifest.v2+json");
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->media_type, kDockerManifest);
  auto plain = parse_manifest(doc.dump(), "application/json");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->media_type, kOciManifest);
}

TEST(Manifest, Classify) {
  EXPECT_EQ(*classify_manifest("", oci_manifest().dump()), DocumentKind::kManifest);
  EXPECT_EQ(*classify_manifest(kOciIndex, docker_list().dump()), DocumentKind::kIndex);
  json bare = {{"schemaVersion", 2}, {"manifests", json::array()}};
  EXPECT_EQ(*classify_manifest("application/json", bare.dump()), DocumentKind::kIndex);
  auto s1 = classify_manifest(kDockerManifestSchema1Signed, "{}");
  ASSERT_FALSE(s1.ok());
  EXPECT_NE(s1.error().message().find("schema 1"), std::string::npos);
  EXPECT_NE(s1.error().message().find("not supported"), std::string::npos);
  json v1 = {{"schemaVersion", 1}, {"name", "x"}, {"fsLayers", json::array()}};
  auto s1b = classify_manifest("application/json", v1.dump());
  ASSERT_FALSE(s1b.ok());
  EXPECT_NE(s1b.error().message().find("schema 1"), std::string::npos);
  auto other = classify_manifest("", R"({"mediaType":"application/vnd.cncf.helm.chart"})");
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().message().find("unsupported manifest media type"), std::string::npos);
}

struct Malformed {
  std::string name;
  std::function<void(json&)> mutate;
  std::string message;  // a phrase the error must contain
};

TEST(Manifest, MalformedTable) {
  const Malformed cases[] = {
      {"no config", [](json& d) { d.erase("config"); }, "field \"config\": missing"},
      {"config array", [](json& d) { d["config"] = json::array(); }, "\"config\": not an object"},
      {"no layers", [](json& d) { d.erase("layers"); }, "field \"layers\": missing"},
      {"layers object", [](json& d) { d["layers"] = json::object(); }, "\"layers\": not an array"},
      {"layer not object", [](json& d) { d["layers"][1] = 5; }, "\"layers[1]\": not an object"},
      {"bad digest", [](json& d) { d["layers"][0]["digest"] = "sha256:xyz"; },
       "\"layers[0].digest\""},
      {"no digest", [](json& d) { d["layers"][2].erase("digest"); },
       "\"layers[2].digest\": missing"},
      {"size string", [](json& d) { d["layers"][0]["size"] = "10"; },
       "\"layers[0].size\": not an integer"},
      {"size float", [](json& d) { d["layers"][0]["size"] = 1.5; }, "not an integer"},
      {"size negative", [](json& d) { d["config"]["size"] = -1; }, "\"config.size\": negative"},
      {"size huge", [](json& d) { d["config"]["size"] = UINT64_MAX; }, "out of range"},
      {"empty media type", [](json& d) { d["layers"][0]["mediaType"] = ""; }, "empty"},
      {"media type number", [](json& d) { d["layers"][0]["mediaType"] = 1; }, "not a string"},
      {"schema 3", [](json& d) { d["schemaVersion"] = 3; }, "expected 2"},
      {"no schema", [](json& d) { d.erase("schemaVersion"); }, "schemaVersion\": missing"},
      {"schema 1", [](json& d) { d["schemaVersion"] = 1; }, "schema 1 is not supported"},
      {"index type", [](json& d) { d["mediaType"] = kOciIndex; }, "not an image manifest"},
      {"annotation number", [](json& d) { d["annotations"]["a"] = 1; }, "not a string"},
      {"urls not array", [](json& d) { d["layers"][0]["urls"] = "http://x"; },
       "not an array of strings"},
  };
  for (const Malformed& c : cases) {
    SCOPED_TRACE(c.name);
    json doc = oci_manifest();
    c.mutate(doc);
    auto m = parse_manifest(doc.dump());
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.error().kind(), ErrorKind::kPullImage);
    EXPECT_NE(m.error().message().find(c.message), std::string::npos) << m.error().message();
  }
}

TEST(Manifest, NotJson) {
  for (std::string body : {"", "{", "[]", "null", "\"x\"", "{\"a\":1} trailing"}) {
    SCOPED_TRACE(body);
    auto m = parse_manifest(body);
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.error().message().find("manifest: not"), std::string::npos) << m.error().message();
  }
}

TEST(Index, ParsesAndSelects) {
  auto index = parse_index(docker_list().dump());
  ASSERT_TRUE(index.ok()) << index.error().message();
  ASSERT_EQ(index->manifests.size(), 4u);
  EXPECT_EQ(index->manifests[2].platform->str(), "linux/arm64/v8");

  auto amd64 = select_platform(*index, *parse_platform("linux/amd64"));
  ASSERT_TRUE(amd64.ok());
  EXPECT_EQ(amd64->digest.str(), digest_of('1'));
  auto arm64 = select_platform(*index, *parse_platform("linux/arm64"));
  ASSERT_TRUE(arm64.ok());
  EXPECT_EQ(arm64->digest.str(), digest_of('3'));
  auto armhf = select_platform(*index, *parse_platform("linux/arm"));
  ASSERT_TRUE(armhf.ok());
  EXPECT_EQ(armhf->digest.str(), digest_of('2'));

  auto none = select_platform(*index, *parse_platform("linux/s390x"));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message().find("linux/s390x"), std::string::npos);
  EXPECT_NE(none.error().message().find("linux/amd64, linux/arm/v7, linux/arm64/v8"),
            std::string::npos)
      << none.error().message();
  EXPECT_EQ(none.error().message().find("unknown"), std::string::npos);
}

TEST(Index, ArmVariantsNormalizeBothWays) {
  json list = docker_list();
  list["manifests"][2]["platform"].erase("variant");            // arm64 without variant
  list["manifests"][0]["platform"]["architecture"] = "x86_64";  // alias
  auto index = parse_index(list.dump());
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(select_platform(*index, *parse_platform("linux/arm64/v8"))->digest.str(),
            digest_of('3'));
  EXPECT_EQ(select_platform(*index, *parse_platform("linux/amd64"))->digest.str(), digest_of('1'));
  EXPECT_FALSE(select_platform(*index, *parse_platform("linux/arm/v6")).ok());
}

TEST(Index, Malformed) {
  json no_manifests = {{"schemaVersion", 2}, {"mediaType", kOciIndex}};
  EXPECT_NE(parse_index(no_manifests.dump()).error().message().find("\"manifests\": missing"),
            std::string::npos);
  json bad_platform = docker_list();
  bad_platform["manifests"][0]["platform"].erase("os");
  EXPECT_NE(parse_index(bad_platform.dump()).error().message().find("manifests[0].platform.os"),
            std::string::npos);
  json manifest_as_index = oci_manifest();
  EXPECT_FALSE(parse_index(manifest_as_index.dump()).ok());
}

TEST(Platform, ParseAndNormalize) {
  EXPECT_EQ(parse_platform("linux/amd64")->str(), "linux/amd64");
  EXPECT_EQ(parse_platform("linux/arm64")->str(), "linux/arm64/v8");
  EXPECT_EQ(parse_platform("linux/aarch64")->str(), "linux/arm64/v8");
  EXPECT_EQ(parse_platform("Linux/X86_64")->str(), "linux/amd64");
  EXPECT_EQ(parse_platform("linux/arm")->str(), "linux/arm/v7");
  EXPECT_EQ(parse_platform("linux/arm/6")->str(), "linux/arm/v6");
  EXPECT_EQ(parse_platform("linux/armhf")->str(), "linux/arm/v7");
  EXPECT_EQ(parse_platform("linux/i386")->str(), "linux/386");
  for (std::string bad : {"", "linux", "linux/", "/amd64", "a/b/c/d", "linux/am d64"}) {
    auto p = parse_platform(bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.error().kind(), ErrorKind::kUsage);
  }
  Platform host = host_platform();
  EXPECT_EQ(host.os, "linux");
  EXPECT_FALSE(host.architecture.empty());
  EXPECT_NE(host.architecture, "x86_64");
  EXPECT_NE(host.architecture, "aarch64");
}

TEST(ImageConfig, Parses) {
  json doc = {{"architecture", "amd64"},
              {"os", "linux"},
              {"created", "2024-01-01T00:00:00Z"},
              {"rootfs", {{"type", "layers"}, {"diff_ids", {digest_of('1'), digest_of('2')}}}},
              {"config",
               {{"User", "1000:1000"},
                {"WorkingDir", "/app"},
                {"Entrypoint", {"/bin/sh", "-c"}},
                {"Cmd", nullptr},
                {"Env", {"PATH=/usr/bin", "EMPTY="}},
                {"Labels", {{"a", "b"}}},
                {"ExposedPorts", {{"80/tcp", json::object()}, {"53/udp", json::object()}}},
                {"StopSignal", "SIGTERM"},
                {"Volumes", {{"/data", json::object()}}}}},
              {"history", json::array({{{"created_by", "x"}}})}};
  auto c = parse_image_config(doc.dump());
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_EQ(c->diff_ids.size(), 2u);
  EXPECT_EQ(c->diff_ids[1].str(), digest_of('2'));
  EXPECT_EQ(c->config.user, "1000:1000");
  EXPECT_EQ(c->config.working_dir, "/app");
  EXPECT_EQ(c->config.entrypoint, (std::vector<std::string>{"/bin/sh", "-c"}));
  EXPECT_TRUE(c->config.cmd.empty());
  EXPECT_EQ(c->config.env.size(), 2u);
  EXPECT_EQ(c->config.labels.at("a"), "b");
  EXPECT_EQ(c->config.exposed_ports, (std::vector<std::string>{"53/udp", "80/tcp"}));
  EXPECT_EQ(c->config.stop_signal, "SIGTERM");
  json out = runtime_config_to_json(c->config);
  EXPECT_EQ(out["WorkingDir"], "/app");
  EXPECT_EQ(out["ExposedPorts"][1], "80/tcp");
}

TEST(ImageConfig, Malformed) {
  const std::pair<std::string, std::string> cases[] = {
      {R"({})", "\"rootfs\": missing"},
      {R"({"rootfs":{"type":"layers"}})", "\"rootfs.diff_ids\": missing"},
      {R"({"rootfs":{"type":"other","diff_ids":[]}})", "expected \"layers\""},
      {R"({"rootfs":{"type":"layers","diff_ids":[1]}})", "diff_ids[0]\": not a string"},
      {R"({"rootfs":{"type":"layers","diff_ids":["sha256:zz"]}})", "diff_ids[0]"},
      {R"({"rootfs":{"type":"layers","diff_ids":[]},"config":{"Env":"A=1"}})",
       "\"config.Env\": not an array of strings"},
      {R"({"rootfs":{"type":"layers","diff_ids":[]},"config":{"Env":["NOEQUALS"]}})",
       "without '='"},
      {R"({"rootfs":{"type":"layers","diff_ids":[]},"config":{"Cmd":[1]}})", "config.Cmd"},
      {R"({"rootfs":{"type":"layers","diff_ids":[]},"config":{"User":5}})", "config.User"},
      {R"({"rootfs":{"type":"layers","diff_ids":[]},"config":{"Labels":{"a":1}}})",
       "config.Labels"},
      {R"({"rootfs":{"type":"layers","diff_ids":[]},"config":[]})", "\"config\": not an object"},
      {R"(not json)", "image config: not valid JSON"},
  };
  for (const auto& [doc, message] : cases) {
    SCOPED_TRACE(doc);
    auto c = parse_image_config(doc);
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.error().message().find(message), std::string::npos) << c.error().message();
  }
}

TEST(MediaTypes, LayerCompression) {
  EXPECT_EQ(*layer_compression(kOciLayerGzip), io::Compression::kGzip);
  EXPECT_EQ(*layer_compression(kDockerLayerGzip), io::Compression::kGzip);
  EXPECT_EQ(*layer_compression(kDockerForeignLayerGzip), io::Compression::kGzip);
  EXPECT_EQ(*layer_compression(kOciLayerZstd), io::Compression::kZstd);
  EXPECT_EQ(*layer_compression(kOciLayerTar), io::Compression::kNone);
  EXPECT_EQ(*layer_compression(kDockerLayerTar), io::Compression::kNone);
  auto helm = layer_compression("application/vnd.cncf.helm.chart.content.v1.tar+gzip");
  ASSERT_FALSE(helm.ok());
  EXPECT_NE(helm.error().message().find("helm"), std::string::npos);
}

TEST(MediaTypes, LayerTypeTellsTarFromErofs) {
  struct Case {
    std::string_view media_type;
    LayerFormat format;
    io::Compression compression;
  };
  for (const Case& c : {Case{kOciLayerGzip, LayerFormat::kTar, io::Compression::kGzip},
                        Case{kDockerLayerTar, LayerFormat::kTar, io::Compression::kNone},
                        Case{kErofsLayer, LayerFormat::kErofs, io::Compression::kNone},
                        Case{kErofsLayerZstd, LayerFormat::kErofs, io::Compression::kZstd},
                        Case{kErofsImage, LayerFormat::kErofs, io::Compression::kNone},
                        Case{kErofsImageZstd, LayerFormat::kErofs, io::Compression::kZstd}}) {
    auto t = layer_type(c.media_type);
    ASSERT_TRUE(t.ok()) << c.media_type;
    EXPECT_EQ(t->format, c.format) << c.media_type;
    EXPECT_EQ(t->compression, c.compression) << c.media_type;
  }
  // A tar reader must never be handed an EROFS layer, nor the reverse.
  EXPECT_FALSE(layer_compression(kErofsLayer).ok());
  EXPECT_FALSE(layer_type("application/vnd.erofs.layer.v1+gzip").ok());
  EXPECT_FALSE(layer_type("application/vnd.cncf.helm.chart.content.v1.tar+gzip").ok());
}


// Hostile nesting: refused with a clear error before any parse (a manifest of
// two million nested arrays once cost memory for nothing).
TEST(OciDocuments, DeepNestingIsRefused) {
  std::string deep = "{\"layers\":" + std::string(100, '[') + std::string(100, ']') + "}";
  for (auto r : {parse_manifest(deep).error(), parse_index(deep).error()}) {
    EXPECT_NE(r.message().find("nested deeper than 64 levels"), std::string::npos) << r.message();
  }
  auto config = parse_image_config(deep);
  ASSERT_FALSE(config.ok());
  // Brackets inside strings are text, not nesting.
  std::string quoted = "{\"schemaVersion\":2,\"x\":\"" + std::string(1000, '[') + "\"}";
  auto m = parse_manifest(quoted, kOciManifest);
  if (!m.ok()) {
    EXPECT_EQ(m.error().message().find("nested deeper"), std::string::npos);
  }
}

}  // namespace
}  // namespace vmimage::oci
