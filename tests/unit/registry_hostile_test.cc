// A registry (or token service) that attacks its client: a byte every few
// seconds, a document that never ends, a token carrying a header, redirect
// loops and odd schemes, an endless header list. Each ends in a bounded time
// with an error that names the limit, and nothing hostile reaches the wire.
#include <gtest/gtest.h>

#include "registry_fake_registry.h"
#include "source/registry/auth.h"

namespace vmimage::registry {
namespace {

using testing::FakeRegistry;
using testing::FakeRequest;
using testing::FakeResponse;
using testing::FakeServer;
using testing::json_response;
using Clock = std::chrono::steady_clock;

oci::Reference ref_of(const std::string& text) {
  return oci::parse_reference(text).value();
}

oci::Platform amd64() {
  return oci::parse_platform("linux/amd64").value();
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One byte per `every`: never a stall of a second, never any progress.
FakeResponse trickled(FakeResponse r, std::chrono::milliseconds every) {
  r.trickle = every;
  return r;
}

ClientOptions slow_guard(int min_rate, int window_s, int document_s) {
  ClientOptions o = testing::fast_options();
  o.limits.min_rate = static_cast<uint64_t>(min_rate);
  o.limits.rate_window = std::chrono::seconds(window_s);
  o.limits.document_timeout = std::chrono::seconds(document_s);
  return o;
}

TEST(RegistryHostile, TricklingManifestFailsOnTheMinimumRate) {
  FakeRegistry reg;
  auto img = reg.add_image("ns/app", "v1", {"layer"});
  reg.set_hook([&](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.target.find("/manifests/") == std::string::npos) return std::nullopt;
    return trickled(json_response(200, img.manifest, std::string(oci::kOciManifest)),
                    std::chrono::milliseconds(300));
  });
  auto client = Client::create(slow_guard(1024, 2, 600)).value();
  auto start = Clock::now();
  auto r = client->resolve(ref_of(reg.host() + "/ns/app:v1"), amd64());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("too slow"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("limit min-rate"), std::string::npos);
  EXPECT_LT(seconds_since(start), 20.0);  // a guard against a hang, not a speed target
}

TEST(RegistryHostile, TricklingManifestFailsOnTheDocumentDeadline) {
  FakeRegistry reg;
  auto img = reg.add_image("ns/app", "v1", {"layer"});
  reg.set_hook([&](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.target.find("/manifests/") == std::string::npos) return std::nullopt;
    return trickled(json_response(200, img.manifest, std::string(oci::kOciManifest)),
                    std::chrono::milliseconds(100));
  });
  auto client = Client::create(slow_guard(0, 30, 2)).value();  // no minimum rate
  auto start = Clock::now();
  auto r = client->resolve(ref_of(reg.host() + "/ns/app:v1"), amd64());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("limit document-timeout"), std::string::npos)
      << r.error().message();
  EXPECT_LT(seconds_since(start), 20.0);
}

TEST(RegistryHostile, TricklingConfigAndBlobFail) {
  FakeRegistry reg;
  auto img = reg.add_image("ns/app", "v1", {std::string(50000, 'x')});
  bool trickle_config = true;
  reg.set_hook([&](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.target.find("/blobs/") == std::string::npos) return std::nullopt;
    bool is_layer = r.target.find(img.layer_digests[0].str()) != std::string::npos;
    if (is_layer == trickle_config) return std::nullopt;
    return trickled(json_response(200, std::string(100000, 'y')), std::chrono::milliseconds(200));
  });
  auto client = Client::create(slow_guard(1024, 2, 600)).value();
  auto r = client->resolve(ref_of(reg.host() + "/ns/app:v1"), amd64());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("limit min-rate"), std::string::npos) << r.error().message();

  trickle_config = false;
  r = client->resolve(ref_of(reg.host() + "/ns/app:v1"), amd64());
  ASSERT_TRUE(r.ok()) << r.error().message();
  auto start = Clock::now();
  auto tar = client->open_layer(r->reference, r->layers[0]);
  Result<std::string> got = tar.ok() ? testing::read_stream(**tar) : Result<std::string>(tar.error());
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.error().message().find("limit min-rate"), std::string::npos)
      << got.error().message();
  EXPECT_LT(seconds_since(start), 20.0);
}

// A token service that answers with a token holding CR LF and a header of its
// choosing: refused before anything is sent to the registry.
TEST(RegistryHostile, TokenWithAHeaderInsideIsRefused) {
  FakeRegistry reg;
  reg.add_image("ns/app", "v1", {"layer"});
  FakeServer tokens([](const FakeRequest&) {
    return json_response(200, "{\"token\":\"abc\\r\\nX-Injected: yes\",\"expires_in\":300}");
  });
  reg.set_hook([&](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (!r.header("authorization").empty()) return std::nullopt;
    FakeResponse deny = json_response(401, R"({"errors":[{"code":"UNAUTHORIZED"}]})");
    deny.headers.emplace_back("WWW-Authenticate",
                              "Bearer realm=\"http://" + tokens.host() + "/token\",service=\"x\"");
    return deny;
  });
  auto client = Client::create(testing::fast_options()).value();
  auto r = client->resolve(ref_of(reg.host() + "/ns/app:v1"), amd64());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("b64token"), std::string::npos) << r.error().message();
  for (const FakeRequest& req : reg.server().requests()) {
    EXPECT_EQ(req.headers.count("x-injected"), 0u) << req.target;
    EXPECT_EQ(req.header("authorization").find('\r'), std::string::npos);
  }
}

TEST(RegistryHostile, TokenGrammar) {
  for (std::string ok : {"abc", "eyJhbGciOi.J9eyJzdWIi.Oi-_~+/x", "dG9rZW4=", "dA=="}) {
    EXPECT_TRUE(is_b64token(ok)) << ok;
  }
  for (std::string bad : {"", "a b", "a\r\nX: y", "a=b", "=", "tok\"en", "t\xc3\xa9", "a,b"}) {
    EXPECT_FALSE(is_b64token(bad)) << bad;
  }
  auto huge = parse_token_response(R"({"token":"abc","expires_in":9223372036854775807})");
  ASSERT_TRUE(huge.ok());
  EXPECT_EQ(huge->expires_in, std::chrono::hours(24));
}

TEST(RegistryHostile, RedirectLoopsAndSchemesAreNamed) {
  FakeRegistry reg;
  reg.add_image("ns/app", "v1", {"layer"});
  std::string where = "loop";
  reg.set_hook([&](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.target.find("/manifests/") == std::string::npos) return std::nullopt;
    FakeResponse moved = json_response(302, "");
    moved.headers.emplace_back("Location", where == "loop" ? r.target + "x" : where);
    return moved;
  });
  auto client = Client::create(testing::fast_options()).value();
  auto r = client->resolve(ref_of(reg.host() + "/ns/app:v1"), amd64());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("more than 5 redirects (limit max-redirects)"),
            std::string::npos)
      << r.error().message();
  for (std::string scheme : {"file:///etc/passwd", "gopher://example.com/x", "ftp://h/x"}) {
    where = scheme;
    r = client->resolve(ref_of(reg.host() + "/ns/app:v1"), amd64());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message().find("only http and https URLs are followed"),
              std::string::npos)
        << r.error().message();
    EXPECT_NE(r.error().message().find(scheme.substr(0, scheme.find(':'))), std::string::npos);
  }
}

TEST(RegistryHostile, EndlessHeadersAreCut) {
  FakeRegistry reg;
  reg.add_image("ns/app", "v1", {"layer"});
  reg.set_hook([&](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.target.find("/manifests/") == std::string::npos) return std::nullopt;
    FakeResponse flood = json_response(200, "{}");
    for (int i = 0; i < 20000; ++i) flood.headers.emplace_back("X-Pad-" + std::to_string(i),
                                                               std::string(64, 'p'));
    return flood;
  });
  auto client = Client::create(testing::fast_options()).value();
  auto r = client->resolve(ref_of(reg.host() + "/ns/app:v1"), amd64());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("response headers larger than"), std::string::npos)
      << r.error().message();
}

TEST(RegistryHostile, TooManyLayersIsRefusedAtResolve) {
  FakeRegistry reg;
  std::vector<std::string> tars(12, "t");
  reg.add_image("ns/app", "v1", tars);
  ClientOptions o = testing::fast_options();
  o.limits.max_layers = 10;
  auto client = Client::create(o).value();
  auto r = client->resolve(ref_of(reg.host() + "/ns/app:v1"), amd64());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("12 layers, more than 10 (limit max-layers)"),
            std::string::npos)
      << r.error().message();
}

}  // namespace
}  // namespace vmimage::registry
