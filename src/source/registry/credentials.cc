// Credential lookup in Docker/containers auth files and credential helpers
// (docker-credential-helpers protocol: "get", server URL on stdin, JSON out).
#include "source/registry/credentials.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "oci/json_util.h"
#include "source/registry/auth.h"
#include "util/fd.h"
#include "util/file.h"

extern char** environ;

namespace vmimage::registry {
namespace {

using oci::json::Fields;
using oci::json::Json;

constexpr ErrorKind kKind = ErrorKind::kPullImage;
constexpr size_t kMaxAuthFile = 4 << 20;
constexpr size_t kMaxHelperOutput = 1 << 20;

bool is_docker_hub(std::string_view domain) {
  return domain == "docker.io" || domain == "index.docker.io" || domain == "registry-1.docker.io";
}

// The server URL a helper is asked about: docker login stores Docker Hub as the v1 URL.
std::string helper_server_url(std::string_view domain) {
  return is_docker_hub(domain) ? "https://index.docker.io/v1/" : std::string(domain);
}

// How well `key` names (domain, repository): 0 = not at all, higher = more specific.
size_t key_match(std::string_view key, std::string_view domain, std::string_view repository) {
  std::string k = normalize_auth_key(key);
  std::string_view host = std::string_view(k).substr(0, k.find('/'));
  bool same_host = host == domain || (is_docker_hub(domain) && is_docker_hub(host));
  if (!same_host) return 0;
  if (host.size() == k.size()) return 1;
  std::string_view path = std::string_view(k).substr(host.size() + 1);
  bool prefix = repository == path ||
                (repository.size() > path.size() && repository.substr(0, path.size()) == path &&
                 repository[path.size()] == '/');
  return prefix ? 1 + path.size() : 0;
}

// The key of `object` that best matches, or nullptr.
const Json* best_entry(const Json& object, std::string_view domain, std::string_view repository,
                       std::string* key_out) {
  const Json* best = nullptr;
  size_t best_score = 0;
  for (auto it = object.begin(); it != object.end(); ++it) {
    size_t score = key_match(it.key(), domain, repository);
    if (score > best_score) {
      best_score = score;
      best = &it.value();
      if (key_out) *key_out = it.key();
    }
  }
  return best;
}

Result<std::optional<Credential>> decode_auth_entry(const Json& entry, const std::string& path,
                                                    const std::string& key) {
  std::string where = path + " auths[\"" + key + "\"]";
  if (!entry.is_object()) return Error(kKind, where + ": not an object");
  Fields f(entry, "", kKind);
  Credential c;
  c.source = path;
  auto auth = f.optional_string("auth");
  auto user = f.optional_string("username");
  auto pass = f.optional_string("password");
  auto token = f.optional_string("identitytoken");
  if (!auth || !user || !pass || !token) return Error(kKind, where + ": a field is not a string");
  c.username = *user;
  c.password = *pass;
  c.identity_token = *token;
  if (!auth->empty()) {
    std::optional<std::string> decoded = base64_decode(*auth);
    size_t colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) {
      return Error(kKind, where + ": \"auth\" is not base64 of user:password");
    }
    c.username = decoded->substr(0, colon);
    c.password = decoded->substr(colon + 1);
  }
  if (c.username.empty() && c.password.empty() && c.identity_token.empty())
    return std::optional<Credential>();
  return std::optional<Credential>(std::move(c));
}

bool valid_helper_name(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

Result<std::string> read_small_file(const std::string& path, bool* missing) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *missing = errno == ENOENT || errno == ENOTDIR;
    return sys_error(kKind, "reading credentials file " + path);
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (text.size() > kMaxAuthFile) return Error(kKind, path + ": credentials file too large");
  return text;
}

}  // namespace

std::string login_key(std::string_view domain) { return helper_server_url(domain); }

Result<bool> save_login(const std::string& path, std::string_view domain,
                        const std::optional<Credential>& credential) {
  bool missing = false;
  auto text = read_small_file(path, &missing);
  if (!text && !missing) return std::move(text).error();
  nlohmann::ordered_json doc = nlohmann::ordered_json::object();
  if (text) {
    doc = nlohmann::ordered_json::parse(*text, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      return Error(kKind, path + " is not a JSON object: not changing it");
    }
  }
  nlohmann::ordered_json& auths = doc["auths"];
  if (auths.is_null()) auths = nlohmann::ordered_json::object();
  if (!auths.is_object()) return Error(kKind, path + ": \"auths\" is not an object");
  bool changed = false;
  std::string host = normalize_auth_key(login_key(domain));
  for (auto it = auths.begin(); it != auths.end();) {
    std::string key = normalize_auth_key(it.key());
    bool same = key == host || (is_docker_hub(key) && is_docker_hub(domain));
    if (same && !credential) {
      it = auths.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  if (credential) {
    auths[login_key(domain)] = {
        {"auth", base64_encode(credential->username + ":" + credential->password)}};
    changed = true;
  }
  if (!changed) return false;
  std::string dir = path.substr(0, path.rfind('/'));
  if (!dir.empty()) VMI_CHECK(make_dirs(dir, 0700));
  VMI_TRY(AtomicFile file, AtomicFile::create(path, 0600));
  std::string out = doc.dump(1, '\t') + "\n";
  VMI_CHECK(write_all(file.fd(), std::as_bytes(std::span(out)), path));
  VMI_CHECK(file.commit());
  return true;
}

std::string normalize_auth_key(std::string_view key) {
  size_t sep = key.find("://");
  if (sep == std::string_view::npos) return std::string(key);
  // URL-form keys (docker login) name a host only; their path is an API version.
  std::string_view rest = key.substr(sep + 3);
  return std::string(rest.substr(0, rest.find('/')));
}

CredentialEnv CredentialEnv::from_environment() {
  CredentialEnv env;
  const char* docker_config = std::getenv("DOCKER_CONFIG");
  const char* home = std::getenv("HOME");
  if (docker_config && *docker_config) {
    env.docker_config_dir = docker_config;
  } else if (home && *home) {
    env.docker_config_dir = std::string(home) + "/.docker";
  }
  if (const char* f = std::getenv("REGISTRY_AUTH_FILE")) env.registry_auth_file = f;
  if (const char* x = std::getenv("XDG_RUNTIME_DIR")) env.xdg_runtime_dir = x;
  return env;
}

std::vector<std::string> CredentialEnv::auth_files() const {
  std::vector<std::string> files;
  if (!docker_config_dir.empty()) files.push_back(docker_config_dir + "/config.json");
  if (!registry_auth_file.empty()) files.push_back(registry_auth_file);
  if (!xdg_runtime_dir.empty()) files.push_back(xdg_runtime_dir + "/containers/auth.json");
  return files;
}

Result<std::optional<Credential>> lookup_in_auth_file(const std::string& path,
                                                      std::string_view domain,
                                                      std::string_view repository,
                                                      const CredentialEnv& env) {
  bool missing = false;
  auto text = read_small_file(path, &missing);
  if (!text) {
    if (missing) return std::optional<Credential>();
    return std::move(text).error();
  }
  VMI_TRY(Json doc, oci::json::parse_object(*text, path, kKind));
  Fields f(doc, "", kKind);
  VMI_TRY(const Json* helpers, f.object("credHelpers", /*optional=*/true));
  if (helpers) {
    const Json* helper = best_entry(*helpers, domain, repository, nullptr);
    if (helper && helper->is_string()) {
      return run_credential_helper(helper->get<std::string>(), helper_server_url(domain),
                                   env.helper_timeout);
    }
  }
  VMI_TRY(std::string store, f.optional_string("credsStore"));
  if (!store.empty()) {
    VMI_TRY(auto found,
            run_credential_helper(store, helper_server_url(domain), env.helper_timeout));
    if (found) return found;
  }
  VMI_TRY(const Json* auths, f.object("auths", /*optional=*/true));
  if (!auths) return std::optional<Credential>();
  std::string key;
  const Json* entry = best_entry(*auths, domain, repository, &key);
  if (!entry) return std::optional<Credential>();
  return decode_auth_entry(*entry, path, key);
}

Result<std::optional<Credential>> lookup_credentials(std::string_view domain,
                                                     std::string_view repository,
                                                     const CredentialEnv& env) {
  for (const std::string& file : env.auth_files()) {
    VMI_TRY(std::optional<Credential> found, lookup_in_auth_file(file, domain, repository, env));
    if (found) return found;
  }
  return std::optional<Credential>();
}

namespace {

struct HelperRun {
  int exit_status = -1;
  bool timed_out = false;
  std::string output;
};

Status read_until_exit(int out_fd, pid_t pid, std::chrono::milliseconds timeout, HelperRun& run) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      run.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{out_fd, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t n = ::read(out_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (run.output.size() + static_cast<size_t>(n) > kMaxHelperOutput) {
      ::kill(pid, SIGKILL);
      return Error(kKind, "credential helper output too large");
    }
    run.output.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  run.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return {};
}

Result<HelperRun> spawn_helper(const std::string& program, const std::string& input,
                               std::chrono::milliseconds timeout) {
  int in_pipe[2], out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return sys_error(kKind, "pipe for " + program);
  UniqueFd in_r(in_pipe[0]), in_w(in_pipe[1]);
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return sys_error(kKind, "pipe for " + program);
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  char* argv[] = {const_cast<char*>(program.c_str()), const_cast<char*>("get"), nullptr};
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    return Error(ErrorKind::kToolNotFound, "cannot run credential helper " + program, rc);
  }
  in_r.reset();
  out_w.reset();
  // The input is one short line: it fits the pipe buffer, so this cannot block.
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  ssize_t w = ::write(in_w.get(), input.data(), input.size());
  if (w < 0 && errno == EPIPE) {
    // The helper exited without reading: consume the SIGPIPE this thread got.
    timespec zero{};
    sigtimedwait(&block, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  in_w.reset();
  HelperRun run;
  VMI_CHECK(read_until_exit(out_r.get(), pid, timeout, run));
  return run;
}

}  // namespace

Result<std::optional<Credential>> run_credential_helper(const std::string& helper,
                                                        const std::string& server_url,
                                                        std::chrono::milliseconds timeout) {
  if (!valid_helper_name(helper)) {
    return Error(kKind, "invalid credential helper name \"" + helper + "\"");
  }
  std::string program = "docker-credential-" + helper;
  VMI_TRY(HelperRun run, spawn_helper(program, server_url, timeout));
  if (run.timed_out) {
    return Error(
        kKind, program + " did not answer within " + std::to_string(timeout.count() / 1000) + " s");
  }
  if (run.exit_status != 0) {
    if (run.output.find("credentials not found") != std::string::npos)
      return std::optional<Credential>();
    if (run.exit_status == 127) {
      return Error(ErrorKind::kToolNotFound, "credential helper " + program + " not found on PATH");
    }
    // The output is not quoted: a helper might echo secrets in its errors.
    return Error(kKind, program + " get failed for " + server_url + " (exit status " +
                            std::to_string(run.exit_status) + ")");
  }
  auto doc = oci::json::parse_object(run.output, program + " output", kKind);
  if (!doc) return Error(kKind, program + " get: output is not a JSON object");
  Fields f(*doc, "", kKind);
  auto user = f.optional_string("Username");
  auto secret = f.optional_string("Secret");
  if (!user || !secret) return Error(kKind, program + " get: Username/Secret not strings");
  if (secret->empty()) return std::optional<Credential>();
  Credential c;
  c.source = program;
  // docker-credential-helpers mark identity tokens with this username.
  if (*user == "<token>") {
    c.identity_token = *secret;
  } else {
    c.username = *user;
    c.password = *secret;
  }
  return std::optional<Credential>(std::move(c));
}

}  // namespace vmimage::registry
