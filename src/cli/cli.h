// The command-line front end: each command registers itself on the CLI11 app from
// one add_*_command function (see the table in main.cc). Only the CLI prints or exits.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "util/result.h"

namespace vmimage::cli {

struct GlobalOptions {
  std::string cache_dir;
  bool json = false;
  bool quiet = false;
  std::vector<std::string> insecure_registries;
  std::string ca_file;
};

// A command's body: returns the process exit code, or an Error that main prints
// as "vmimage: <kind>: <message>" with exit code 1 (2 for usage errors).
using CommandRun = std::function<Result<int>()>;

struct CliContext {
  GlobalOptions global;
  CommandRun run;  // set by the chosen subcommand's callback
};

void add_version_command(CLI::App& app, CliContext& ctx);
void add_mkfs_command(CLI::App& app, CliContext& ctx);
void add_upper_command(CLI::App& app, CliContext& ctx);

}  // namespace vmimage::cli
