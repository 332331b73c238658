// The command-line front end: each command registers itself on the CLI11 app from
// one add_*_command function (see the table in main.cc). Only the CLI prints or exits.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "source/registry/client.h"
#include "vmimage/result.h"
#include "vmimage/builder.h"
#include "vmimage/limits.h"
#include "verity/tree.h"

namespace vmimage::cli {

struct GlobalOptions {
  std::string cache_dir;
  bool json = false;
  bool quiet = false;
  std::vector<std::string> insecure_registries;
  std::string ca_file;
  std::vector<std::string> limit_flags;  // --limit NAME=VALUE, in order
  Limits limits;  // defaults, then $VMIMAGE_LIMITS, then --limit (set by main)
};

// The limits of the global options: $VMIMAGE_LIMITS, then each --limit flag.
Result<Limits> resolve_limits(const GlobalOptions& global);
// Prints a JSON document on stdout. Text that cannot be JSON (bytes that are
// not UTF-8) is an error naming what, never an abort or a silent replacement.
Status print_json(const nlohmann::ordered_json& doc, int indent = 2);
// The text an argument or path must be to appear in JSON output: valid UTF-8.
// `what` names it in the error ("--cache-dir", "OUTPUT").
Status check_utf8(std::string_view text, std::string_view what);

// Whether a progress line redrawn on every byte event is due again: at most
// ten times a second (pull's and push's terminal output).
class RedrawThrottle {
 public:
  bool due() {
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(100)) return false;
    last_ = now;
    return true;
  }

 private:
  std::chrono::steady_clock::time_point last_{};
};

// A command's body: returns the process exit code, or an Error that main prints
// as "vmimage: <kind>: <message>" with exit code 1 (2 for usage errors).
using CommandRun = std::function<Result<int>()>;

struct CliContext {
  GlobalOptions global;
  CommandRun run;      // set by the chosen subcommand's callback
  CancelToken cancel;  // cancelled by SIGINT, SIGTERM or SIGHUP (util/cleanup.h)
};

void add_version_command(CLI::App& app, CliContext& ctx);
void add_limits_command(CLI::App& app, CliContext& ctx);
void add_resolve_command(CLI::App& app, CliContext& ctx);
void add_fetch_layers_command(CLI::App& app, CliContext& ctx);

// Registry client options from the global flags (--insecure-registry, --ca-file)
// and $VMIMAGE_INSECURE_REGISTRIES (comma- or space-separated HOST[:PORT]); tests
// shorten limits with $VMIMAGE_REGISTRY_STALL_TIMEOUT (s), $VMIMAGE_REGISTRY_RETRIES
// and $VMIMAGE_REGISTRY_BACKOFF_MS, and upload chunks with
// $VMIMAGE_REGISTRY_UPLOAD_CHUNK (bytes).
registry::ClientOptions make_client_options(const GlobalOptions& global);
void add_mkfs_command(CLI::App& app, CliContext& ctx);
void add_pull_command(CLI::App& app, CliContext& ctx);
// BuildOptions from the global flags and the --platform, --layout, --fs flags
// that pull and import share.
// --verity / --no-verity; unset, $VMIMAGE_VERITY (0 or 1) decides, else the
// store's default (vmimage config verity).
void add_verity_flags(CLI::App& cmd, std::optional<bool>& verity);
Result<std::optional<bool>> verity_default();  // $VMIMAGE_VERITY; none when unset
// The tree's salt for a file vmimage writes outside the store (mkfs, export):
// none unless verity is asked (flag, $VMIMAGE_VERITY, else `store_default`);
// `salt_hex` or the fixed default.
Result<std::optional<verity::Salt>> verity_salt_option(const std::optional<bool>& verity,
                                                       const std::string& salt_hex,
                                                       bool store_default);
// "dm-verity: root hash H, salt S, hash offset N" and the table line, on stdout.
void print_verity(const VerityInfo& verity);
Result<vmimage::BuildOptions> build_options(const GlobalOptions& global, const std::string& platform,
                                            const std::string& layout, const std::string& fs);
void add_import_command(CLI::App& app, CliContext& ctx);
void add_export_command(CLI::App& app, CliContext& ctx);
void add_push_command(CLI::App& app, CliContext& ctx);
void add_login_command(CLI::App& app, CliContext& ctx);  // login and logout
// Store commands (cmd_images.cc, cmd_maintenance.cc).
void add_tag_command(CLI::App& app, CliContext& ctx);
void add_ls_command(CLI::App& app, CliContext& ctx);
void add_inspect_command(CLI::App& app, CliContext& ctx);
void add_rm_command(CLI::App& app, CliContext& ctx);
void add_gc_command(CLI::App& app, CliContext& ctx);
void add_du_command(CLI::App& app, CliContext& ctx);
void add_verify_command(CLI::App& app, CliContext& ctx);
void add_config_command(CLI::App& app, CliContext& ctx);  // the store's defaults
void add_upper_command(CLI::App& app, CliContext& ctx);

}  // namespace vmimage::cli
