// `vmimage upper create OUTPUT --size SIZE`: a sparse, empty ext4 with upper/
// and work/ for an overlayfs upper layer.
#include <cstdio>
#include <memory>

#include "cli/cli.h"
#include "fs/ext4/upper.h"
#include "util/size.h"

namespace vmimage::cli {
namespace {

struct UpperCreateArgs {
  std::string output;
  std::string size;
  std::string uuid;
  std::string label;
};

Result<int> run_upper_create(const UpperCreateArgs& args, const GlobalOptions& global) {
  VMI_CHECK(check_utf8(args.output, "OUTPUT"));
  ext4::UpperOptions options;
  VMI_TRY(options.size_bytes, parse_size(args.size));
  VMI_TRY(options.uuid, ext4::parse_upper_uuid(args.uuid));
  options.label = args.label;
  VMI_TRY(ext4::Ext4Stats stats, ext4::create_upper(args.output, options));
  if (global.json) {
    VMI_CHECK(print_json({{"path", args.output},
                          {"size_bytes", stats.size_bytes},
                          {"uuid", stats.uuid},
                          {"inodes", stats.inodes}},
                         -1));
  } else if (!global.quiet) {
    std::printf("created upper disk %s: %s ext4, UUID %s, %llu inodes\n", args.output.c_str(),
                format_size(stats.size_bytes).c_str(), stats.uuid.c_str(),
                static_cast<unsigned long long>(stats.inodes));
  }
  return 0;
}

}  // namespace

void add_upper_command(CLI::App& app, CliContext& ctx) {
  auto* upper = app.add_subcommand("upper", "Writable upper disks for overlayfs");
  upper->require_subcommand(1);
  auto args = std::make_shared<UpperCreateArgs>();
  auto* create = upper->add_subcommand(
      "create", "Create a sparse, empty ext4 with upper/ and work/ directories");
  create->add_option("OUTPUT", args->output, "Image file to create")->required();
  create->add_option("--size", args->size, "Disk size, e.g. 10G or 1T (K/M/G/T suffixes)")
      ->required();
  create->add_option("--uuid", args->uuid,
                     "Volume UUID, or \"random\" (default: derived from size and label)");
  create->add_option("--label", args->label, "Volume label (at most 16 bytes)");
  create->callback(
      [&ctx, args] { ctx.run = [&ctx, args]() { return run_upper_create(*args, ctx.global); }; });
}

}  // namespace vmimage::cli
