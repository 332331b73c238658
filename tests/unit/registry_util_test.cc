// Pure pieces of the registry client: URL origins and redaction, loopback and
// insecure hosts, the backoff schedule, Retry-After, WWW-Authenticate
// challenges, token responses and the token cache.
#include <gtest/gtest.h>

#include "source/registry/auth.h"
#include "source/registry/retry.h"
#include "source/registry/session.h"
#include "source/registry/url.h"

namespace vmimage::registry {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(RegistryUrl, Origin) {
  EXPECT_EQ(url_origin("https://Registry.IO/v2/x"), "https://registry.io:443");
  EXPECT_EQ(url_origin("http://host:5000"), "http://host:5000");
  EXPECT_EQ(url_origin("http://user:pw@host/a?b"), "http://host:80");
  EXPECT_EQ(url_origin("https://[::1]:5000/v2/"), "https://[::1]:5000");
  EXPECT_EQ(url_origin("ftp://host/"), "");
  EXPECT_EQ(url_origin("host/path"), "");
  EXPECT_NE(url_origin("https://registry.io/a"), url_origin("https://cdn.registry.io/a"));
  EXPECT_NE(url_origin("https://registry.io/a"), url_origin("http://registry.io/a"));
  EXPECT_NE(url_origin("https://registry.io/a"), url_origin("https://registry.io:8443/a"));
}

TEST(RegistryUrl, RedactsSecrets) {
  const std::pair<std::string, std::string> cases[] = {
      {"https://cdn.example/blob?X-Amz-Signature=abc123&X-Amz-Credential=AKIA/x&expires=5",
       "https://cdn.example/"
       "blob?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&expires=REDACTED"},
      {"https://user:hunter2@host/v2/", "https://REDACTED@host/v2/"},
      {"https://host/v2/x/blobs/sha256:aa", "https://host/v2/x/blobs/sha256:aa"},
      {"https://host/b?sig=zzz#frag", "https://host/b?sig=REDACTED"},
      {"https://host/b?flag&k=v", "https://host/b?flag&k=REDACTED"},
  };
  for (const auto& [in, out] : cases) EXPECT_EQ(redact_url(in), out);
  for (const auto& [in, out] : cases) {
    EXPECT_EQ(redact_url(in).find("hunter2"), std::string::npos);
    EXPECT_EQ(redact_url(in).find("abc123"), std::string::npos);
  }
}

TEST(RegistryUrl, LoopbackAndInsecure) {
  for (std::string h : {"localhost", "localhost:5000", "127.0.0.1", "127.1.2.3:80", "[::1]:5000",
                        "::1", "LOCALHOST:1"}) {
    EXPECT_TRUE(is_loopback(h)) << h;
  }
  for (std::string h : {"127.example.com", "10.0.0.1", "localhost.evil.com", "[::2]:5000",
                        "registry-1.docker.io", "128.0.0.1"}) {
    EXPECT_FALSE(is_loopback(h)) << h;
  }
  std::vector<std::string> list = {"reg.local:5000", "other.lan"};
  EXPECT_TRUE(host_listed("reg.local:5000", list));
  EXPECT_FALSE(host_listed("reg.local:5001", list));
  EXPECT_FALSE(host_listed("reg.local", list));
  EXPECT_TRUE(host_listed("other.lan", list));
  EXPECT_TRUE(host_listed("Other.LAN:443", list));
  EXPECT_EQ(host_without_port("[::1]:5000"), "::1");
  EXPECT_EQ(url_encode("repository:a/b:pull"), "repository%3Aa%2Fb%3Apull");
}

TEST(RegistryRetry, BackoffScheduleDoublesWithJitterAndCap) {
  RetryPolicy p;
  p.initial_backoff = milliseconds(100);
  p.max_backoff = milliseconds(1000);
  EXPECT_EQ(backoff_delay(p, 0, 0.0), milliseconds(50));
  EXPECT_EQ(backoff_delay(p, 0, 1.0), milliseconds(100));
  EXPECT_EQ(backoff_delay(p, 1, 0.0), milliseconds(100));
  EXPECT_EQ(backoff_delay(p, 1, 1.0), milliseconds(200));
  EXPECT_EQ(backoff_delay(p, 2, 0.5), milliseconds(300));
  EXPECT_EQ(backoff_delay(p, 3, 1.0), milliseconds(800));
  EXPECT_EQ(backoff_delay(p, 4, 1.0), milliseconds(1000));  // capped
  EXPECT_EQ(backoff_delay(p, 60, 0.0), milliseconds(500));  // no overflow
  for (int i = 0; i < 10; ++i) {
    EXPECT_LE(backoff_delay(p, i, 0.3), backoff_delay(p, i + 1, 0.3));
  }
}

TEST(RegistryRetry, StateIsBounded) {
  RetryPolicy p;
  p.max_retries = 3;
  p.initial_backoff = milliseconds(1);
  RetryState s(p);
  EXPECT_TRUE(s.next());
  EXPECT_TRUE(s.next(milliseconds(0)));
  EXPECT_TRUE(s.next());
  EXPECT_FALSE(s.next());
  EXPECT_EQ(s.failures(), 3);
  s.reset();
  EXPECT_TRUE(s.next());
}

TEST(RegistryRetry, RetryAfter) {
  auto now = std::chrono::system_clock::from_time_t(784111777);  // Sun, 06 Nov 1994 08:49:37 GMT
  EXPECT_EQ(parse_retry_after("120", now), milliseconds(120000));
  EXPECT_EQ(parse_retry_after(" 0 ", now), milliseconds(0));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), milliseconds(10000));
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now), milliseconds(0));
  EXPECT_FALSE(parse_retry_after("", now));
  EXPECT_FALSE(parse_retry_after("soon", now));
  EXPECT_FALSE(parse_retry_after("-5", now));
  // Found by text_fuzz: a date centuries ahead overflowed the clock arithmetic.
  EXPECT_EQ(parse_retry_after("Sun, 06 Nov 4474 08:49:37 GMT", now),
            milliseconds(int64_t{999999999} * 1000));
  EXPECT_EQ(parse_retry_after("99999999999", now), milliseconds(int64_t{999999999} * 1000));
  EXPECT_TRUE(is_retryable_status(503));
  EXPECT_TRUE(is_retryable_status(429));
  EXPECT_FALSE(is_retryable_status(404));
  EXPECT_FALSE(is_retryable_status(501));
}

TEST(RegistryAuth, ParsesChallenges) {
  auto c = parse_challenges(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull")");
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ((*c)[0].scheme, "bearer");
  EXPECT_EQ((*c)[0].param("realm"), "https://auth.docker.io/token");
  EXPECT_EQ((*c)[0].param("service"), "registry.docker.io");
  EXPECT_EQ((*c)[0].param("scope"), "repository:library/alpine:pull");

  auto two = parse_challenges(R"(Basic realm="Registry Realm", Bearer realm=x , Service="a\"b")");
  ASSERT_TRUE(two.ok()) << two.error().message();
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[0].scheme, "basic");
  EXPECT_EQ((*two)[0].param("realm"), "Registry Realm");
  EXPECT_EQ((*two)[1].param("realm"), "x");
  EXPECT_EQ((*two)[1].param("service"), "a\"b");

  auto scopes = parse_challenges(R"(Bearer scope="repository:a:pull,push",realm="r")");
  ASSERT_TRUE(scopes.ok());
  EXPECT_EQ((*scopes)[0].param("scope"), "repository:a:pull,push");

  EXPECT_FALSE(parse_challenges("").ok());
  EXPECT_FALSE(parse_challenges(R"(Bearer realm="unterminated)").ok());
  EXPECT_FALSE(parse_challenges(R"(Bearer ="x")").ok());
}

TEST(RegistryAuth, TokenResponses) {
  auto t = parse_token_response(R"({"token":"abc","expires_in":120})");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->value, "abc");
  EXPECT_EQ(t->expires_in, seconds(120));
  auto oauth = parse_token_response(R"({"access_token":"xyz","refresh_token":"r"})");
  ASSERT_TRUE(oauth.ok());
  EXPECT_EQ(oauth->value, "xyz");
  EXPECT_EQ(oauth->expires_in, seconds(60));  // the spec's default
  auto empty = parse_token_response(R"({"token":""})");
  ASSERT_FALSE(empty.ok());
  auto not_json = parse_token_response("secret-token-in-html");
  ASSERT_FALSE(not_json.ok());
  EXPECT_EQ(not_json.error().message().find("secret"), std::string::npos);
  EXPECT_FALSE(parse_token_response(R"({"token":5})").ok());
}

TEST(RegistryAuth, TokenCacheExpiresBeforeTheToken) {
  TokenCache cache;
  auto t0 = TokenCache::Clock::now();
  cache.put("repository:a:pull", Token{"tok", seconds(100)}, t0);
  EXPECT_EQ(cache.get("repository:a:pull", t0 + seconds(89)), "tok");
  EXPECT_FALSE(cache.get("repository:a:pull", t0 + seconds(91)));  // stale at 90%
  EXPECT_FALSE(cache.get("repository:b:pull", t0));
  cache.invalidate("repository:a:pull", "other");  // not the cached value: kept
  EXPECT_EQ(cache.get("repository:a:pull", t0), "tok");
  cache.invalidate("repository:a:pull", "tok");
  EXPECT_FALSE(cache.get("repository:a:pull", t0));
}

TEST(RegistryAuth, Base64AndBasic) {
  EXPECT_EQ(base64_encode("user:pass"), "dXNlcjpwYXNz");
  EXPECT_EQ(base64_decode("dXNlcjpwYXNz"), "user:pass");
  EXPECT_EQ(base64_decode("YQ=="), "a");
  EXPECT_EQ(base64_decode("YWI="), "ab");
  EXPECT_FALSE(base64_decode("abc"));
  EXPECT_FALSE(base64_decode("a$c="));
  EXPECT_EQ(basic_authorization("a", "b:c"), "Basic " + base64_encode("a:b:c"));
  EXPECT_EQ(pull_scope("library/alpine"), "repository:library/alpine:pull");
}

TEST(RegistryErrors, Summary) {
  EXPECT_EQ(
      registry_error_summary(
          R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]})"),
      "MANIFEST_UNKNOWN: manifest unknown");
  EXPECT_EQ(registry_error_summary("<html>"), "");
  EXPECT_EQ(registry_error_summary(R"({"errors":[]})"), "");
}

}  // namespace
}  // namespace vmimage::registry
