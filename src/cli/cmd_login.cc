// `vmimage login REGISTRY -u USER --password-stdin` and `vmimage logout
// REGISTRY`: credentials in Docker's config.json ($DOCKER_CONFIG, else
// ~/.docker), where pull and push (and docker, skopeo, crane) find them.
#include <unistd.h>

#include <cstdio>

#include "cli/cli.h"
#include "oci/reference.h"
#include "source/registry/credentials.h"

namespace vmimage::cli {

namespace {

constexpr size_t kMaxPassword = 64 * 1024;

// "host:5000", "https://host:5000/v2/" or "index.docker.io" → the domain as in references.
Result<std::string> registry_domain(const std::string& given) {
  std::string host = registry::normalize_auth_key(given);
  auto ref = oci::parse_reference(host + "/probe");
  if (!ref || host.empty() || host.find('/') != std::string::npos) {
    return Error(ErrorKind::kUsage, "not a registry: \"" + given + "\" (expected HOST[:PORT])");
  }
  return ref->domain;
}

Result<std::string> read_password() {
  std::string password;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error(ErrorKind::kIo, "reading the password from stdin");
    if (n == 0) break;
    password.append(buf, static_cast<size_t>(n));
    if (password.size() > kMaxPassword) return Error(ErrorKind::kUsage, "the password is too long");
  }
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) {
    password.pop_back();
  }
  if (password.empty()) return Error(ErrorKind::kUsage, "no password on stdin");
  return password;
}

std::string config_path() {
  return registry::CredentialEnv::from_environment().docker_config_dir + "/config.json";
}

}  // namespace

void add_login_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::string registry, username;
    bool password_stdin = false;
  };
  auto args = std::make_shared<Args>();
  auto* login = app.add_subcommand(
      "login", "Check credentials with a registry and keep them in Docker's config.json");
  login->add_option("REGISTRY", args->registry, "HOST[:PORT], or docker.io")->required();
  login->add_option("-u,--username", args->username, "The account")->required();
  login->add_flag("--password-stdin", args->password_stdin, "Read the password from stdin")
      ->required();
  login->callback([&ctx, args] {
    ctx.run = [&ctx, args]() -> Result<int> {
      VMI_TRY(std::string domain, registry_domain(args->registry));
      registry::Credential credential;
      credential.username = args->username;
      VMI_TRY(credential.password, read_password());
      credential.source = "the command line";
      VMI_TRY(auto client, registry::Client::create(make_client_options(ctx.global)));
      VMI_CHECK(client->check_login(domain, credential, ctx.cancel.flag()));
      std::string path = config_path();
      VMI_CHECK(registry::save_login(path, domain, credential));
      if (!ctx.global.quiet) std::printf("Login Succeeded (credentials in %s)\n", path.c_str());
      return 0;
    };
  });

  auto logout_args = std::make_shared<std::string>();
  auto* logout = app.add_subcommand("logout", "Remove a registry's credentials from config.json");
  logout->add_option("REGISTRY", *logout_args, "HOST[:PORT], or docker.io")->required();
  logout->callback([&ctx, logout_args] {
    ctx.run = [&ctx, logout_args]() -> Result<int> {
      VMI_TRY(std::string domain, registry_domain(*logout_args));
      std::string path = config_path();
      VMI_TRY(bool removed, registry::save_login(path, domain, std::nullopt));
      if (!removed) {
        std::fprintf(stderr, "vmimage: not logged in to %s\n", domain.c_str());
        return 0;
      }
      if (!ctx.global.quiet) std::printf("Removed the credentials for %s\n", domain.c_str());
      return 0;
    };
  });
}

}  // namespace vmimage::cli
