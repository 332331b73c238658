// `vmimage upper create OUTPUT --size SIZE`: a sparse, empty ext4 with upper/
// and work/ for an overlayfs upper layer.
#include <cstdio>
#include <memory>
#include <random>

#include "cli/cli.h"
#include "io/identity.h"
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

Result<std::optional<io::Uuid>> upper_uuid(const std::string& text) {
  if (text.empty()) return std::optional<io::Uuid>{};
  if (text == "random") {
    std::random_device rd;
    std::array<uint8_t, 16> bytes{};
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rd());
    bytes[6] = static_cast<uint8_t>((bytes[6] & 0x0f) | 0x40);  // version 4: random
    bytes[8] = static_cast<uint8_t>((bytes[8] & 0x3f) | 0x80);
    return std::optional<io::Uuid>{bytes};
  }
  VMI_TRY(io::Uuid uuid, io::parse_uuid(text));
  return std::optional<io::Uuid>{uuid};
}

Result<int> run_upper_create(const UpperCreateArgs& args, const GlobalOptions& global) {
  VMI_CHECK(check_utf8(args.output, "OUTPUT"));
  ext4::UpperOptions options;
  VMI_TRY(options.size_bytes, parse_size(args.size));
  VMI_TRY(options.uuid, upper_uuid(args.uuid));
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
