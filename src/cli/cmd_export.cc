// `vmimage export REF OUTPUT --type ext4|erofs [--size SIZE|--free SIZE]`: the
// image's whole root filesystem flattened into one image, from the stored blobs.
#include <cstdio>

#include "builder/export.h"
#include "cli/cli.h"
#include "cli/store_format.h"
#include "util/size.h"

namespace vmimage::cli {

void add_export_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::string ref, output, type = "ext4", size, free;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("export", "Flatten a stored image into one ext4 or EROFS image");
  cmd->add_option("REF", args->ref, "A stored image (tag)")->required();
  cmd->add_option("OUTPUT", args->output, "The image file to write")->required();
  cmd->add_option("--type", args->type, "ext4 (writable root disk) or erofs");
  auto* size = cmd->add_option("--size", args->size,
                               "ext4: the total size of the image (K/M/G/T); default: what fits");
  cmd->add_option("--free", args->free,
                  "ext4: size the image so that at least this much is available once mounted "
                  "(as df shows it)")
      ->excludes(size);
  cmd->callback([&ctx, args] {
    ctx.run = [&ctx, args]() -> Result<int> {
      VMI_TRY(Store store, open_store(ctx.global));
      VMI_TRY(FoundImage found, find_image(store, args->ref));
      VMI_CHECK(check_utf8(args->output, "OUTPUT"));
      builder::ExportOptions options;
      if (args->type == "erofs") {
        options.type = FsType::kErofs;
      } else if (args->type != "ext4") {
        return Error(ErrorKind::kLayerFs,
                     "unknown filesystem type '" + args->type + "' (expected ext4 or erofs)");
      }
      if (!args->size.empty()) {
        VMI_TRY(options.size_bytes, parse_size(args->size));
      }
      if (!args->free.empty()) {
        VMI_TRY(options.extra_free_bytes, parse_size(args->free));
      }
      VMI_TRY(ext4::Ext4Stats stats,
              builder::export_image(found.image.result, args->output, options));
      if (options.type == FsType::kErofs) {
        if (!ctx.global.quiet) std::printf("%s\n", args->output.c_str());
        return 0;
      }
      if (!ctx.global.quiet) {
        std::printf("%s: ext4, %s (content needs %s)\n", args->output.c_str(),
                    human_size(stats.size_bytes).c_str(), human_size(stats.min_size_bytes).c_str());
      }
      return 0;
    };
  });
}

}  // namespace vmimage::cli
