// Registry credentials the way docker and podman find them: Docker's
// config.json ($DOCKER_CONFIG or ~/.docker), then $REGISTRY_AUTH_FILE, then
// ${XDG_RUNTIME_DIR}/containers/auth.json; in each file credHelpers, then
// credsStore, then auths. Helpers run as `docker-credential-NAME get`.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vmimage/result.h"

namespace vmimage::registry {

struct Credential {
  std::string username;
  std::string password;
  std::string identity_token;  // an OAuth2 refresh token ("identitytoken")
  std::string source;          // where it came from (a path or helper name): never a secret
};

struct CredentialEnv {
  std::string docker_config_dir;   // $DOCKER_CONFIG, else $HOME/.docker
  std::string registry_auth_file;  // $REGISTRY_AUTH_FILE
  std::string xdg_runtime_dir;     // $XDG_RUNTIME_DIR
  std::chrono::milliseconds helper_timeout{30000};

  static CredentialEnv from_environment();
  // The files searched, in order.
  std::vector<std::string> auth_files() const;
};

// Credentials for `domain` (as in a reference: "docker.io", "host:5000"),
// preferring an entry for "domain/repository" (or a parent path) where the file
// has one. nullopt when none is configured; an error for unreadable or
// malformed files and failing helpers (messages never contain secrets).
Result<std::optional<Credential>> lookup_credentials(std::string_view domain,
                                                     std::string_view repository,
                                                     const CredentialEnv& env);

// One auth file (config.json or auth.json); nullopt when it does not exist or has no entry.
Result<std::optional<Credential>> lookup_in_auth_file(const std::string& path,
                                                      std::string_view domain,
                                                      std::string_view repository,
                                                      const CredentialEnv& env);

// Runs docker-credential-<helper> get with `server_url` on stdin.
// nullopt when the helper reports "credentials not found".
Result<std::optional<Credential>> run_credential_helper(const std::string& helper,
                                                        const std::string& server_url,
                                                        std::chrono::milliseconds timeout);

// "https://index.docker.io/v1/" -> "index.docker.io"; "host:5000/ns" stays.
std::string normalize_auth_key(std::string_view key);

// The auths key docker login writes for a registry: "https://index.docker.io/v1/"
// for docker.io, else the domain itself.
std::string login_key(std::string_view domain);

// Sets `domain`'s entry in the auths of the Docker config file `path` to
// `credential` (username:password), or removes every entry naming that host
// when `credential` is nullopt; keeps everything else in the file. The file is
// replaced atomically and left readable by its owner only (0600). Returns
// whether the file changed.
Result<bool> save_login(const std::string& path, std::string_view domain,
                        const std::optional<Credential>& credential);

}  // namespace vmimage::registry
