// vmimage: OCI images to boot-ready EROFS/ext4 filesystem images for microVMs.
#include <sys/resource.h>

#include <cstdio>

#include "cli/cli.h"
#include "util/cleanup.h"
#include "vmimage/version.h"

namespace vmimage::cli {
namespace {

using AddCommand = void (*)(CLI::App&, CliContext&);

constexpr AddCommand kCommands[] = {
    add_version_command,
    add_limits_command,
    add_resolve_command,
    add_fetch_layers_command,
    add_mkfs_command,
    add_pull_command,
    add_push_command,
    add_login_command,
    add_import_command,
    add_tag_command, add_ls_command, add_inspect_command, add_rm_command,
    add_gc_command,  add_du_command, add_verify_command, add_config_command,
    add_upper_command,
    add_export_command,
};

// Each layer being converted holds a few descriptors (its blob, tail spool and
// lock) until the image is complete; an image may have max-layers of them.
void raise_open_file_limit() {
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  rl.rlim_cur = rl.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &rl);
}

int report(const Error& error) {
  std::fprintf(stderr, "vmimage: %s: %s\n", std::string(error_kind_name(error.kind())).c_str(),
               error.describe().c_str());
  return error.kind() == ErrorKind::kUsage ? 2 : 1;
}

}  // namespace

void add_version_command(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand("version", "Print the version");
  cmd->callback([&ctx] {
    ctx.run = []() -> Result<int> {
      std::printf("vmimage %s\n", std::string(version()).c_str());
      return 0;
    };
  });
}

int run(int argc, char** argv) {
  CLI::App app{"vmimage: turn OCI/Docker images into EROFS and ext4 images for microVMs"};
  app.require_subcommand(1);
  // `vmimage --version` as help2man (the man page) and packagers expect it.
  app.set_version_flag("--version", "vmimage " + std::string(version()));
  app.fallthrough();  // global flags may follow the command too: `vmimage ls --json`
  CliContext ctx;
  app.add_option("--cache-dir", ctx.global.cache_dir, "Store location");
  app.add_flag("--json", ctx.global.json, "Machine-readable output");
  app.add_flag("-q,--quiet", ctx.global.quiet, "No progress output");
  app.add_option("--insecure-registry", ctx.global.insecure_registries,
                 "Allow plain HTTP to HOST[:PORT] (repeatable)");
  app.add_option("--ca-file", ctx.global.ca_file, "Extra CA certificates (PEM)");
  app.add_option("--limit", ctx.global.limit_flags,
                 "NAME=VALUE: change a limit on hostile input (repeatable; see `vmimage limits`)");
  for (AddCommand add : kCommands) add(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "vmimage: usage: %s\n", e.what());
    return 2;
  }
  Result<Limits> limits = resolve_limits(ctx.global);
  if (!limits) return report(limits.error());
  ctx.global.limits = *limits;
  raise_open_file_limit();
  install_signal_handlers(&ctx.cancel);
  Result<int> code = ctx.run();
  if (!code && code.error().kind() == ErrorKind::kCancelled && received_signal() != 0) {
    std::fprintf(stderr, "vmimage: cancelled by signal %d; nothing was left behind\n",
                 received_signal());
    return 128 + received_signal();
  }
  if (!code) return report(code.error());
  return *code;
}

}  // namespace vmimage::cli

int main(int argc, char** argv) {
  // Library code returns errors; what can still throw is the standard library
  // running out of memory, or CLI11 on a malformed command line.
  try {
    return vmimage::cli::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vmimage: internal: %s\n", e.what());
    return 1;
  }
}
