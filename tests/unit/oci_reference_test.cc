// Table-driven tests of reference parsing and normalization.
#include <gtest/gtest.h>

#include "oci/reference.h"

namespace vmimage::oci {
namespace {

const std::string kHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct Valid {
  std::string input;
  std::string domain, path, tag, digest;
  std::string normalized;
};

TEST(Reference, ValidTable) {
  const Valid cases[] = {
      {"alpine", "docker.io", "library/alpine", "latest", "", "docker.io/library/alpine:latest"},
      {"alpine:3.19", "docker.io", "library/alpine", "3.19", "", "docker.io/library/alpine:3.19"},
      {"user/app:1", "docker.io", "user/app", "1", "", "docker.io/user/app:1"},
      {"docker.io/alpine", "docker.io", "library/alpine", "latest", "",
       "docker.io/library/alpine:latest"},
      {"index.docker.io/library/alpine", "docker.io", "library/alpine", "latest", "",
       "docker.io/library/alpine:latest"},
      {"index.docker.io/user/app:v2", "docker.io", "user/app", "v2", "", "docker.io/user/app:v2"},
      {"host:5000/a/b/c:tag", "host:5000", "a/b/c", "tag", "", "host:5000/a/b/c:tag"},
      {"host:5000/a", "host:5000", "a", "latest", "", "host:5000/a:latest"},
      {"localhost/app", "localhost", "app", "latest", "", "localhost/app:latest"},
      {"localhost:5000/app:dev", "localhost:5000", "app", "dev", "", "localhost:5000/app:dev"},
      {"127.0.0.1:5000/ns/app", "127.0.0.1:5000", "ns/app", "latest", "",
       "127.0.0.1:5000/ns/app:latest"},
      {"[::1]:5000/app:x", "[::1]:5000", "app", "x", "", "[::1]:5000/app:x"},
      {"ghcr.io/owner/repo", "ghcr.io", "owner/repo", "latest", "", "ghcr.io/owner/repo:latest"},
      {"quay.io/a/b-c_d.e__f---g:T_a.g-1", "quay.io", "a/b-c_d.e__f---g", "T_a.g-1", "",
       "quay.io/a/b-c_d.e__f---g:T_a.g-1"},
      {"Registry.Example.COM/app", "Registry.Example.COM", "app", "latest", "",
       "Registry.Example.COM/app:latest"},
      {"localhost:5000", "docker.io", "library/localhost", "5000", "",
       "docker.io/library/localhost:5000"},
      {"alpine@sha256:" + kHex, "docker.io", "library/alpine", "", "sha256:" + kHex,
       "docker.io/library/alpine@sha256:" + kHex},
      {"alpine:3.19@sha256:" + kHex, "docker.io", "library/alpine", "3.19", "sha256:" + kHex,
       "docker.io/library/alpine:3.19@sha256:" + kHex},
      {"host:5000/a/b@sha256:" + kHex, "host:5000", "a/b", "", "sha256:" + kHex,
       "host:5000/a/b@sha256:" + kHex},
      {"a:" + std::string(128, 'x'), "docker.io", "library/a", std::string(128, 'x'), "",
       "docker.io/library/a:" + std::string(128, 'x')},
  };
  for (const Valid& c : cases) {
    SCOPED_TRACE(c.input);
    auto ref = parse_reference(c.input);
    ASSERT_TRUE(ref.ok()) << ref.error().message();
    EXPECT_EQ(ref->domain, c.domain);
    EXPECT_EQ(ref->path, c.path);
    EXPECT_EQ(ref->tag, c.tag);
    EXPECT_EQ(ref->digest ? ref->digest->str() : "", c.digest);
    EXPECT_EQ(ref->str(), c.normalized);
    // Normalizing is idempotent.
    auto again = parse_reference(ref->str());
    ASSERT_TRUE(again.ok()) << again.error().message();
    EXPECT_EQ(*again, *ref);
  }
}

TEST(Reference, DigestWinsOverTag) {
  auto ref = parse_reference("alpine:3.19@sha256:" + kHex);
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->identifier(), "sha256:" + kHex);
  auto tagged = parse_reference("alpine:3.19");
  ASSERT_TRUE(tagged.ok());
  EXPECT_EQ(tagged->identifier(), "3.19");
}

TEST(Reference, ApiHost) {
  EXPECT_EQ(parse_reference("alpine")->api_host(), "registry-1.docker.io");
  EXPECT_EQ(parse_reference("index.docker.io/a/b")->api_host(), "registry-1.docker.io");
  EXPECT_EQ(parse_reference("host:5000/a")->api_host(), "host:5000");
}

struct Invalid {
  std::string input;
  std::string part;     // the offending part the message must quote
  std::string problem;  // a phrase the message must contain
};

TEST(Reference, InvalidTable) {
  const Invalid cases[] = {
      {"", "", "empty"},
      {"Alpine", "Alpine", "lowercase"},
      {"docker.io/Library/alpine", "Library", "lowercase"},
      {"alpine:", "", "empty tag"},
      {"alpine:bad tag", "bad tag", "invalid character in tag"},
      {"alpine:-x", "-x", "tag must start"},
      {"alpine:.x", ".x", "tag must start"},
      {"alpine:" + std::string(129, 'x'), std::string(129, 'x'), "longer than 128"},
      {"alpine@sha256:abc", "sha256:abc", "64 hex"},
      {"alpine@sha256:" + std::string(64, 'G'), "sha256:" + std::string(64, 'G'), "hex"},
      {"alpine@sha256:" + std::string(64, 'A'), "sha256:" + std::string(64, 'A'), "lower-case"},
      {"alpine@md5:" + kHex, "md5:" + kHex, "unsupported digest algorithm"},
      {"alpine@" + kHex, kHex, "missing ':'"},
      {"alpine@", "", "missing ':'"},
      {"alpine@sha256:" + kHex + "@sha256:" + kHex, "", "invalid"},
      {"a//b", "", "empty path component"},
      {"host:5000/", "", "empty path component"},
      {"/alpine", "", "empty path component"},
      {"alpine/", "", "empty path component"},
      {"-alpine", "-alpine", "path component must start"},
      {"alpine-", "alpine-", "path component must start"},
      {"a..b", "a..b", "path component must start"},
      {"a___b", "a___b", "path component must start"},
      {"a-.b", "a-.b", "path component must start"},
      {"a_.b", "a_.b", "path component must start"},
      {"a$b", "a$b", "invalid character"},
      {"host:port/app", "host:port", "invalid port"},
      {"host:123456/app", "host:123456", "invalid port"},
      {"host:65536/app", "host:65536", "invalid port (1-65535)"},
      {"host:99999/app", "host:99999", "invalid port (1-65535)"},
      {"host:0/app", "host:0", "invalid port (1-65535)"},
      {"[::1]:70000/app", "[::1]:70000", "invalid port (1-65535)"},
      {"a\xff:v", "a\\xff", "invalid character"},
      {"-host.io/app", "-host.io", "invalid registry host"},
      {"ho_st.io/app", "ho_st.io", "invalid registry host"},
      {"[::1/app", "[::1", "unterminated IPv6"},
      {"[::1]x/app", "[::1]x", "invalid port"},
      {kHex, kHex, "64-character hex"},
      {"docker.io/" + std::string(250, 'a'), "", "longer than 255"},
      {"a b", "a b", "invalid character"},
  };
  for (const Invalid& c : cases) {
    SCOPED_TRACE(c.input);
    auto ref = parse_reference(c.input);
    ASSERT_FALSE(ref.ok()) << ref->str();
    EXPECT_EQ(ref.error().kind(), ErrorKind::kParseReference);
    const std::string& msg = ref.error().message();
    EXPECT_NE(msg.find(c.problem), std::string::npos) << msg;
    if (!c.part.empty()) {
      EXPECT_NE(msg.find("\"" + c.part + "\""), std::string::npos) << msg;
    }
  }
}

TEST(Reference, ErrorPointsAtOffset) {
  auto ref = parse_reference("registry.io/ok/Bad:tag");
  ASSERT_FALSE(ref.ok());
  EXPECT_NE(ref.error().message().find("\"Bad\" at offset 15"), std::string::npos)
      << ref.error().message();
}

TEST(Reference, Repository) {
  auto repo = parse_repository("alpine");
  ASSERT_TRUE(repo.ok());
  EXPECT_EQ(repo->name(), "docker.io/library/alpine");
  EXPECT_TRUE(repo->tag.empty());
  EXPECT_FALSE(parse_repository("alpine:3").ok());
  EXPECT_FALSE(parse_repository("alpine@sha256:" + kHex).ok());
}

TEST(Digest, Parse) {
  auto d = Digest::parse("sha256:" + kHex);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->algorithm(), "sha256");
  EXPECT_EQ(d->hex(), kHex);
  EXPECT_FALSE(Digest::parse("sha256:" + kHex.substr(1)).ok());
  EXPECT_FALSE(Digest::parse("sha512:" + kHex + kHex).ok());
  EXPECT_FALSE(Digest::parse("SHA256:" + kHex).ok());
  EXPECT_FALSE(Digest::parse(kHex).ok());
  EXPECT_EQ(Digest::of("").str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace vmimage::oci
