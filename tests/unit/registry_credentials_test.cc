// Credential lookup: Docker config.json (auths, identitytoken, credHelpers,
// credsStore), $REGISTRY_AUTH_FILE and containers auth.json, in order; Docker
// Hub aliases; per-repository keys; helper protocol and failures.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "source/registry/auth.h"
#include "source/registry/credentials.h"
#include "util/file.h"

namespace vmimage::registry {
namespace {

class Credentials : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vmimage-cred-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    env_.docker_config_dir = dir_ + "/docker";
    env_.helper_timeout = std::chrono::milliseconds(2000);
    ASSERT_TRUE(make_dirs(env_.docker_config_dir).ok());
    ASSERT_TRUE(make_dirs(dir_ + "/bin").ok());
    old_path_ = std::getenv("PATH");
    ::setenv("PATH", (dir_ + "/bin:" + old_path_).c_str(), 1);
  }
  void TearDown() override {
    ::setenv("PATH", old_path_.c_str(), 1);
    std::system(("rm -rf " + dir_).c_str());
  }
  void write(const std::string& path, const std::string& text, mode_t mode = 0644) {
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
  }
  void write_config(const std::string& json) {
    write(env_.docker_config_dir + "/config.json", json);
  }
  // A docker-credential-NAME that answers `body` (and logs its stdin) with `status`.
  void helper(const std::string& name, const std::string& body, int status = 0) {
    write(dir_ + "/bin/docker-credential-" + name,
          "#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread -r server\necho \"$server\" >> " + dir_ +
              "/" + name + ".calls\nprintf '%s' '" + body + "'\nexit " + std::to_string(status) +
              "\n",
          0755);
  }
  std::string calls(const std::string& name) {
    std::ifstream in(dir_ + "/" + name + ".calls");
    std::string all((std::istreambuf_iterator<char>(in)), {});
    return all;
  }
  Result<std::optional<Credential>> lookup(const std::string& domain,
                                           const std::string& repo = "a/b") {
    return lookup_credentials(domain, repo, env_);
  }

  std::string dir_;
  std::string old_path_;
  CredentialEnv env_;
};

std::string auth(const std::string& user_pass) {
  return base64_encode(user_pass);
}

TEST_F(Credentials, NoFilesMeansNoCredentials) {
  auto c = lookup("registry.example.com");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_FALSE(*c);
}

TEST_F(Credentials, AuthsByHostAndUrlKeys) {
  write_config(R"({"auths":{"registry.example.com:5000":{"auth":")" + auth("u1:p:1") +
               R"("},"https://other.example.com/v1/":{"auth":")" + auth("u2:p2") + R"("}}})");
  auto c = lookup("registry.example.com:5000");
  ASSERT_TRUE(c.ok() && *c) << (c.ok() ? "none" : c.error().message());
  EXPECT_EQ((*c)->username, "u1");
  EXPECT_EQ((*c)->password, "p:1");  // only the first colon splits
  EXPECT_EQ((*c)->source, env_.docker_config_dir + "/config.json");
  auto o = lookup("other.example.com");
  ASSERT_TRUE(o.ok() && *o);
  EXPECT_EQ((*o)->username, "u2");
  EXPECT_FALSE(*lookup("registry.example.com"));  // the port is part of the key
}

TEST_F(Credentials, DockerHubAliases) {
  write_config(R"({"auths":{"https://index.docker.io/v1/":{"auth":")" + auth("hub:pw") + R"("}}})");
  for (std::string domain : {"docker.io", "index.docker.io", "registry-1.docker.io"}) {
    auto c = lookup(domain, "library/alpine");
    ASSERT_TRUE(c.ok() && *c) << domain;
    EXPECT_EQ((*c)->username, "hub");
  }
  EXPECT_FALSE(*lookup("ghcr.io"));
}

TEST_F(Credentials, SaveLoginWritesWhatLookupReadsAndLogoutRemovesEveryAlias) {
  std::string path = env_.docker_config_dir + "/config.json";
  write_config(R"({"auths":{"index.docker.io":{"auth":")" + auth("old:pw") +
               R"("},"r.io":{"auth":")" + auth("keep:pw") + R"("}},"credHelpers":{}})");
  Credential hub{"me", "s3cret", "", ""};
  ASSERT_TRUE(save_login(path, "docker.io", hub).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto c = lookup("docker.io", "library/alpine");
  ASSERT_TRUE(c.ok() && *c);
  EXPECT_EQ((*c)->username, "me");
  EXPECT_EQ((*c)->password, "s3cret");

  auto removed = save_login(path, "docker.io", std::nullopt);
  ASSERT_TRUE(removed.ok() && *removed);
  EXPECT_FALSE(*lookup("docker.io", "library/alpine"));  // both docker.io entries gone
  auto kept = lookup("r.io");
  ASSERT_TRUE(kept.ok() && *kept);
  EXPECT_EQ((*kept)->username, "keep");
  auto again = save_login(path, "docker.io", std::nullopt);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);  // nothing to remove: the file is not rewritten

  write_config("[1]");
  EXPECT_FALSE(save_login(path, "r.io", hub).ok());  // not an object: left alone
}

TEST_F(Credentials, IdentityToken) {
  write_config(R"({"auths":{"r.io":{"auth":")" + auth("<token>:") +
               R"(","identitytoken":"refresh-123"}}})");
  auto c = lookup("r.io");
  ASSERT_TRUE(c.ok() && *c);
  EXPECT_EQ((*c)->identity_token, "refresh-123");
}

TEST_F(Credentials, MostSpecificRepositoryKeyWins) {
  write(dir_ + "/auth.json", R"({"auths":{"r.io":{"auth":")" + auth("host:1") +
                                 R"("},"r.io/team":{"auth":")" + auth("team:2") +
                                 R"("},"r.io/team/app":{"auth":")" + auth("app:3") +
                                 R"("},"r.io/teammate":{"auth":")" + auth("mate:4") + R"("}}})");
  env_.registry_auth_file = dir_ + "/auth.json";
  EXPECT_EQ((*lookup("r.io", "team/app"))->username, "app");
  EXPECT_EQ((*lookup("r.io", "team/app/sub"))->username, "app");
  EXPECT_EQ((*lookup("r.io", "team/other"))->username, "team");
  EXPECT_EQ((*lookup("r.io", "teamx/app"))->username, "host");
  EXPECT_EQ((*lookup("r.io", "other"))->username, "host");
}

TEST_F(Credentials, FilesInOrder) {
  env_.registry_auth_file = dir_ + "/auth.json";
  env_.xdg_runtime_dir = dir_ + "/run";
  ASSERT_TRUE(make_dirs(dir_ + "/run/containers").ok());
  write(dir_ + "/run/containers/auth.json",
        R"({"auths":{"r.io":{"auth":")" + auth("xdg:1") + R"("}}})");
  EXPECT_EQ((*lookup("r.io"))->username, "xdg");
  write(dir_ + "/auth.json", R"({"auths":{"r.io":{"auth":")" + auth("regauth:1") + R"("}}})");
  EXPECT_EQ((*lookup("r.io"))->username, "regauth");
  write_config(R"({"auths":{"r.io":{"auth":")" + auth("docker:1") + R"("}}})");
  EXPECT_EQ((*lookup("r.io"))->username, "docker");
  // An empty entry (left by credsStore setups) does not hide later files.
  write_config(R"({"auths":{"r.io":{}}})");
  EXPECT_EQ((*lookup("r.io"))->username, "regauth");
}

TEST_F(Credentials, CredHelperAndCredsStore) {
  helper("test", R"({"ServerURL":"r.io","Username":"helped","Secret":"s3cret"})");
  write_config(R"({"credHelpers":{"r.io":"test"},"auths":{"r.io":{"auth":")" + auth("file:1") +
               R"("}}})");
  auto c = lookup("r.io");
  ASSERT_TRUE(c.ok() && *c) << (c.ok() ? "none" : c.error().message());
  EXPECT_EQ((*c)->username, "helped");
  EXPECT_EQ((*c)->password, "s3cret");
  EXPECT_EQ((*c)->source, "docker-credential-test");
  EXPECT_EQ(calls("test"), "r.io\n");

  helper("store", R"({"ServerURL":"x","Username":"<token>","Secret":"idtok"})");
  write_config(R"({"credsStore":"store"})");
  auto hub = lookup("docker.io", "library/alpine");
  ASSERT_TRUE(hub.ok() && *hub);
  EXPECT_EQ((*hub)->identity_token, "idtok");
  EXPECT_EQ(calls("store"), "https://index.docker.io/v1/\n");  // Docker Hub's server URL
}

TEST_F(Credentials, HelperFailures) {
  helper("nf", "credentials not found in native keychain", 1);
  write_config(R"({"credsStore":"nf","auths":{"r.io":{"auth":")" + auth("file:1") + R"("}}})");
  EXPECT_EQ((*lookup("r.io"))->username, "file");  // not found: fall back to auths

  helper("broken", "Secret: hunter2", 5);
  write_config(R"({"credHelpers":{"r.io":"broken"}})");
  auto broken = lookup("r.io");
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().message().find("docker-credential-broken get failed"),
            std::string::npos);
  EXPECT_NE(broken.error().message().find("exit status 5"), std::string::npos);
  EXPECT_EQ(broken.error().message().find("hunter2"), std::string::npos);

  write_config(R"({"credHelpers":{"r.io":"missing-helper"}})");
  auto missing = lookup("r.io");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind(), ErrorKind::kToolNotFound);

  write_config(R"({"credHelpers":{"r.io":"../evil"}})");
  EXPECT_FALSE(lookup("r.io").ok());

  write(dir_ + "/bin/docker-credential-slow", "#!/bin/sh\nsleep 10\n", 0755);
  write_config(R"({"credHelpers":{"r.io":"slow"}})");
  env_.helper_timeout = std::chrono::milliseconds(300);
  auto start = std::chrono::steady_clock::now();
  auto slow = lookup("r.io");
  ASSERT_FALSE(slow.ok());
  EXPECT_NE(slow.error().message().find("did not answer"), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(Credentials, MalformedFilesAreErrorsWithoutSecrets) {
  write_config(R"({"auths":{"r.io":{"auth":"not base64 hunter2"}}})");
  auto bad = lookup("r.io");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("not base64"), std::string::npos);
  EXPECT_EQ(bad.error().message().find("hunter2"), std::string::npos);
  write_config("{ not json");
  auto garbage = lookup("r.io");
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.error().message().find("config.json: not valid JSON"), std::string::npos);
  write_config(R"({"auths":[]})");
  EXPECT_FALSE(lookup("r.io").ok());
}

TEST(CredentialKeys, Normalize) {
  EXPECT_EQ(normalize_auth_key("https://index.docker.io/v1/"), "index.docker.io");
  EXPECT_EQ(normalize_auth_key("http://r.io:5000"), "r.io:5000");
  EXPECT_EQ(normalize_auth_key("r.io/ns/app"), "r.io/ns/app");
}

}  // namespace
}  // namespace vmimage::registry
