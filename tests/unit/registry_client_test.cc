// Registry client against an in-process fake registry: resolution (tags,
// digests, indexes, schema 1), authentication (Basic, Bearer with caching and
// refresh) and redirects that must not carry Authorization to another host.
#include <gtest/gtest.h>

#include "registry_fake_registry.h"
#include "source/registry/auth.h"

namespace vmimage::registry {
namespace {

using testing::FakeImage;
using testing::FakeRegistry;
using testing::FakeRequest;
using testing::FakeResponse;
using testing::FakeServer;
using testing::json_response;

oci::Reference ref_of(const std::string& text) {
  return oci::parse_reference(text).value();
}

std::unique_ptr<Client> make_client(std::optional<Credential> cred = std::nullopt) {
  return Client::create(testing::fast_options(cred)).value();
}

oci::Platform amd64() {
  return oci::parse_platform("linux/amd64").value();
}

TEST(RegistryClient, ResolvesByTagAndByDigest) {
  FakeRegistry reg;
  auto img = reg.add_image("ns/app", "v1", {"layer zero", "layer one", "layer two"});
  auto client = make_client();
  auto r = client->resolve(ref_of(reg.host() + "/ns/app:v1"), amd64());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->digest, img.digest);
  EXPECT_FALSE(r->index_digest);
  EXPECT_EQ(r->platform.str(), "linux/amd64");
  ASSERT_EQ(r->layers.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r->layers[i].diff_id, img.diff_ids[i]);
    EXPECT_EQ(r->layers[i].descriptor.digest, img.layer_digests[i]);
  }
  EXPECT_EQ(r->config.config.cmd, std::vector<std::string>{"/bin/sh"});
  // The Accept header names indexes and manifests, OCI and Docker.
  for (const FakeRequest& req : reg.server().requests()) {
    if (req.target.find("/manifests/") == std::string::npos) continue;
    EXPECT_EQ(req.header("accept"), oci::kManifestAccept);
  }
  auto by_digest = client->resolve(ref_of(reg.host() + "/ns/app@" + img.digest.str()), amd64());
  ASSERT_TRUE(by_digest.ok()) << by_digest.error().message();
  EXPECT_EQ(by_digest->digest, img.digest);
}

TEST(RegistryClient, ManifestDigestIsVerifiedWhenPullingByDigest) {
  FakeRegistry reg;
  auto img = reg.add_image("ns/app", "v1", {"a"});
  auto other = reg.add_image("ns/app", "v2", {"b"});
  // The registry answers a digest with another manifest's bytes.
  reg.add_manifest("ns/app", img.digest.str(), std::string(oci::kOciManifest), other.manifest);
  auto r = make_client()->resolve(ref_of(reg.host() + "/ns/app@" + img.digest.str()), amd64());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kImageDigest);
  EXPECT_NE(r.error().message().find("expected " + img.digest.str()), std::string::npos)
      << r.error().message();
}

std::string index_json(const FakeImage& a, const FakeImage& b) {
  nlohmann::json idx = {
      {"schemaVersion", 2},
      {"mediaType", oci::kOciIndex},
      {"manifests",
       {{{"mediaType", oci::kOciManifest},
         {"digest", a.digest.str()},
         {"size", a.manifest.size()},
         {"platform", {{"os", "linux"}, {"architecture", "amd64"}}}},
        {{"mediaType", oci::kOciManifest},
         {"digest", b.digest.str()},
         {"size", b.manifest.size()},
         {"platform", {{"os", "linux"}, {"architecture", "arm64"}, {"variant", "v8"}}}}}}};
  return idx.dump();
}

TEST(RegistryClient, IndexResolvedByPlatform) {
  FakeRegistry reg;
  auto a = reg.add_image("multi", "amd64", {"x86 layer"}, "amd64");
  auto b = reg.add_image("multi", "arm64", {"arm layer"}, "arm64");
  std::string index = index_json(a, b);
  reg.add_manifest("multi", "latest", std::string(oci::kOciIndex), index);
  auto client = make_client();
  auto arm =
      client->resolve(ref_of(reg.host() + "/multi"), oci::parse_platform("linux/arm64").value());
  ASSERT_TRUE(arm.ok()) << arm.error().message();
  EXPECT_EQ(arm->digest, b.digest);
  EXPECT_EQ(arm->index_digest, oci::Digest::of(index));
  EXPECT_EQ(arm->platform.str(), "linux/arm64/v8");
  auto none =
      client->resolve(ref_of(reg.host() + "/multi"), oci::parse_platform("linux/riscv64").value());
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message().find("it has: linux/amd64, linux/arm64/v8"), std::string::npos)
      << none.error().message();
  // An index entry whose manifest does not hash to its digest.
  reg.add_manifest("multi", b.digest.str(), std::string(oci::kOciManifest), a.manifest);
  auto bad =
      client->resolve(ref_of(reg.host() + "/multi"), oci::parse_platform("linux/arm64").value());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind(), ErrorKind::kImageDigest);
}

TEST(RegistryClient, RejectsSchema1AndArtifacts) {
  FakeRegistry reg;
  reg.add_manifest("old", "v1", std::string(oci::kDockerManifestSchema1Signed),
                   R"({"schemaVersion":1,"name":"old","fsLayers":[]})");
  auto client = make_client();
  auto r = client->resolve(ref_of(reg.host() + "/old:v1"), amd64());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("schema 1"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("not supported"), std::string::npos);

  std::string cfg = "{}";
  oci::Digest cd = reg.add_blob("chart", cfg);
  nlohmann::json m = {{"schemaVersion", 2},
                      {"mediaType", oci::kOciManifest},
                      {"config",
                       {{"mediaType", "application/vnd.cncf.helm.config.v1+json"},
                        {"digest", cd.str()},
                        {"size", 2}}},
                      {"layers", nlohmann::json::array()}};
  reg.add_manifest("chart", "1.0", std::string(oci::kOciManifest), m.dump());
  auto chart = client->resolve(ref_of(reg.host() + "/chart:1.0"), amd64());
  ASSERT_FALSE(chart.ok());
  EXPECT_NE(chart.error().message().find("not a container image"), std::string::npos);
}

TEST(RegistryClient, MissingManifestIsImageNotFound) {
  FakeRegistry reg;
  auto r = make_client()->resolve(ref_of(reg.host() + "/nothing:here"), amd64());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kImageNotFound);
}

TEST(RegistryClient, BasicAuthAndNoLeakOnCrossHostRedirect) {
  FakeRegistry reg;
  auto img = reg.add_image("private/app", "v1", {"secret layer"});
  const std::string expected = basic_authorization("user", "pa55");
  // Blob storage on another loopback address: a different origin.
  const std::string layer_path = "/v2/private/app/blobs/" + img.layer_digests[0].str();
  std::string layer_bytes = testing::gzip_bytes("secret layer");
  FakeServer cdn(
      [&](const FakeRequest&) {
        return json_response(200, layer_bytes, "application/octet-stream");
      },
      "127.0.0.2");
  reg.set_hook([&](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.header("authorization") != expected) {
      FakeResponse deny = json_response(401, R"({"errors":[{"code":"UNAUTHORIZED"}]})");
      deny.headers.emplace_back("WWW-Authenticate", "Basic realm=\"test\"");
      return deny;
    }
    if (r.target == layer_path) {
      FakeResponse redirect = json_response(307, "");
      redirect.headers.emplace_back(
          "Location", "http://" + cdn.host() + "/blob?sig=abc&X-Amz-Signature=s3cr3t");
      return redirect;
    }
    return std::nullopt;
  });
  auto anonymous = make_client()->resolve(ref_of(reg.host() + "/private/app:v1"), amd64());
  ASSERT_FALSE(anonymous.ok());
  EXPECT_NE(anonymous.error().message().find("requires authentication (Basic)"), std::string::npos)
      << anonymous.error().message();

  auto client = make_client(Credential{"user", "pa55", "", "test"});
  auto r = client->resolve(ref_of(reg.host() + "/private/app:v1"), amd64());
  ASSERT_TRUE(r.ok()) << r.error().message();
  auto tar = client->open_layer(r->reference, r->layers[0]);
  ASSERT_TRUE(tar.ok()) << tar.error().message();
  auto data = testing::read_stream(**tar);
  ASSERT_TRUE(data.ok()) << data.error().message();
  EXPECT_EQ(*data, "secret layer");
  ASSERT_EQ(cdn.requests().size(), 1u);
  EXPECT_EQ(cdn.requests()[0].header("authorization"), "");

  auto wrong = make_client(Credential{"user", "nope-pass", "", "test-source"})
                   ->resolve(ref_of(reg.host() + "/private/app:v1"), amd64());
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message().find("rejected the credentials"), std::string::npos);
  EXPECT_NE(wrong.error().message().find("test-source"), std::string::npos);
  EXPECT_EQ(wrong.error().message().find("nope-pass"), std::string::npos);
}

// A token service plus a registry that accepts only the newest token it issued.
struct BearerSetup {
  FakeRegistry reg;
  std::mutex mu;
  int issued = 0;
  std::vector<std::string> token_requests;
  FakeServer tokens{[this](const FakeRequest& r) {
    std::lock_guard lock(mu);
    token_requests.push_back(r.target + " auth=" + r.header("authorization"));
    ++issued;
    return json_response(200,
                         R"({"token":"tok-)" + std::to_string(issued) + R"(","expires_in":300})");
  }};

  BearerSetup() {
    reg.set_hook([this](const FakeRequest& r) -> std::optional<FakeResponse> {
      std::string want;
      {
        std::lock_guard lock(mu);
        want = "Bearer tok-" + std::to_string(issued);
      }
      if (r.header("authorization") == want && issued > 0) return std::nullopt;
      FakeResponse deny = json_response(401, R"({"errors":[{"code":"UNAUTHORIZED"}]})");
      deny.headers.emplace_back("WWW-Authenticate",
                                "Bearer realm=\"http://" + tokens.host() +
                                    "/token\",service=\"fake\",scope=\"repository:ns/app:pull\"");
      return deny;
    });
  }
  void revoke() {  // the next token becomes the only valid one
    std::lock_guard lock(mu);
    ++issued;
  }
};

TEST(RegistryClient, BearerTokenIsCachedAndRefreshedOn401) {
  BearerSetup s;
  auto img = s.reg.add_image("ns/app", "v1", {"l0", "l1", "l2"});
  auto client = make_client(Credential{"bob", "pw", "", "test"});
  auto r = client->resolve(ref_of(s.reg.host() + "/ns/app:v1"), amd64());
  ASSERT_TRUE(r.ok()) << r.error().message();
  for (const Layer& layer : r->layers) {
    auto tar = client->open_layer(r->reference, layer);
    ASSERT_TRUE(tar.ok()) << tar.error().message();
    ASSERT_TRUE(testing::read_stream(**tar).ok());
  }
  ASSERT_EQ(s.token_requests.size(), 1u);  // one token for manifest, config and three layers
  EXPECT_NE(s.token_requests[0].find("service=fake"), std::string::npos);
  EXPECT_NE(s.token_requests[0].find("scope=repository%3Ans%2Fapp%3Apull"), std::string::npos);
  EXPECT_NE(s.token_requests[0].find("account=bob"), std::string::npos);
  EXPECT_NE(s.token_requests[0].find("auth=" + basic_authorization("bob", "pw")),
            std::string::npos);

  s.revoke();  // the cached token now draws a 401: the client must fetch another
  auto again = client->resolve(ref_of(s.reg.host() + "/ns/app:v1"), amd64());
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_EQ(s.token_requests.size(), 2u);
}

TEST(RegistryClient, IdentityTokenUsesOAuth2RefreshGrant) {
  BearerSetup s;
  s.reg.add_image("ns/app", "v1", {"l0"});
  auto client = make_client(Credential{"", "", "refresh-me", "test"});
  ASSERT_TRUE(client->resolve(ref_of(s.reg.host() + "/ns/app:v1"), amd64()).ok());
  auto reqs = s.tokens.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].header("content-type"), "application/x-www-form-urlencoded");
  EXPECT_NE(reqs[0].body.find("grant_type=refresh_token"), std::string::npos);
  EXPECT_NE(reqs[0].body.find("refresh_token=refresh-me"), std::string::npos);
  EXPECT_NE(reqs[0].body.find("scope=repository%3Ans%2Fapp%3Apull"), std::string::npos);
}

TEST(RegistryClient, ConnectionsAreReused) {
  FakeRegistry reg;
  reg.add_image("ns/app", "v1", {"l0", "l1", "l2", "l3"});
  auto client = make_client();
  auto r = client->resolve(ref_of(reg.host() + "/ns/app:v1"), amd64());
  ASSERT_TRUE(r.ok()) << r.error().message();
  for (const Layer& layer : r->layers) {
    auto tar = client->open_layer(r->reference, layer);
    ASSERT_TRUE(tar.ok());
    ASSERT_TRUE(testing::read_stream(**tar).ok());
  }
  // One kept-alive connection for the probe, manifest, config and four layers
  // (the https probe that found a plain-HTTP server connects before it, with no
  // HTTP request). The fake server sends headers and body in separate writes, so
  // a client that drops a response before its body closes the connection.
  EXPECT_EQ(reg.server().requests().size(), 7u);
  EXPECT_EQ(reg.server().http_connections(), 1u);
}

TEST(RegistryClient, TheProbeResponseIsReadSoItsConnectionIsReused) {
  FakeRegistry reg;
  reg.add_image("ns/app", "v1", {"l0"});
  reg.set_hook([](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.target != "/v2/") return std::nullopt;
    FakeResponse slow = json_response(200, "{}");
    slow.body_delay = std::chrono::milliseconds(100);
    return slow;
  });
  auto client = make_client();
  ASSERT_TRUE(client->resolve(ref_of(reg.host() + "/ns/app:v1"), amd64()).ok());
  // /v2/'s body comes 100 ms after its headers: a probe that dropped the
  // response at its headers would leave the connection unfinished (curl closes
  // it), and the manifest would need a second one.
  EXPECT_EQ(reg.server().http_connections(), 1u);
}

TEST(RegistryClient, ParallelLayerDownloads) {
  FakeRegistry reg;
  std::vector<std::string> tars;
  for (uint32_t i = 0; i < 6; ++i) tars.push_back(testing::test_bytes(3 << 20, i));
  reg.add_image("big/app", "v1", tars);
  auto client = make_client();
  auto r = client->resolve(ref_of(reg.host() + "/big/app:v1"), amd64());
  ASSERT_TRUE(r.ok()) << r.error().message();
  std::vector<std::thread> threads;
  std::vector<std::string> results(tars.size());
  std::vector<std::string> errors(tars.size());
  for (size_t i = 0; i < tars.size(); ++i) {
    threads.emplace_back([&, i] {
      auto tar = client->open_layer(r->reference, r->layers[i]);
      if (!tar) {
        errors[i] = tar.error().message();
        return;
      }
      auto data = testing::read_stream(**tar);
      if (!data) {
        errors[i] = data.error().message();
        return;
      }
      results[i] = std::move(data).value();
    });
  }
  for (std::thread& t : threads) t.join();
  for (size_t i = 0; i < tars.size(); ++i) {
    EXPECT_EQ(errors[i], "");
    EXPECT_TRUE(results[i] == tars[i]) << "layer " << i;
  }
}

}  // namespace
}  // namespace vmimage::registry
