// `vmimage export REF OUTPUT --type ext4|erofs [--size SIZE|--free SIZE]`: the
// image's whole root filesystem flattened into one image, from the stored blobs.
#include <cstdio>

#include "builder/export.h"
#include "cli/cli.h"
#include "cli/store_format.h"
#include "store/image_json.h"
#include "util/size.h"

namespace vmimage::cli {

void add_export_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::string ref, output, type = "ext4", size, free, verity_salt;
    std::optional<bool> verity;
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
  add_verity_flags(*cmd, args->verity);
  cmd->add_option("--verity-salt", args->verity_salt,
                  "With --verity: the salt, 64 hex digits (default: vmimage's fixed salt)");
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
      VMI_TRY(bool store_default, store.default_verity());
      VMI_TRY(options.verity, verity_salt_option(args->verity, args->verity_salt, store_default));
      VMI_TRY(builder::ExportResult result,
              builder::export_image(found.image.result, args->output, options));
      const ext4::Ext4Stats& stats = result.stats;
      if (ctx.global.json) {
        store_json::Json j = {{"path", args->output},
                              {"fs_type", fs_type_name(options.type)},
                              {"size_bytes", stats.size_bytes}};
        if (options.type == FsType::kExt4) j["min_size_bytes"] = stats.min_size_bytes;
        if (result.verity) j["verity"] = store_json::verity_json(*result.verity);
        VMI_CHECK(print_json(j));
        return 0;
      }
      if (ctx.global.quiet) return 0;
      if (options.type == FsType::kErofs) {
        std::printf("%s\n", args->output.c_str());
      } else {
        std::printf("%s: ext4, %s (content needs %s)\n", args->output.c_str(),
                    human_size(stats.size_bytes).c_str(), human_size(stats.min_size_bytes).c_str());
      }
      if (result.verity) print_verity(*result.verity);
      return 0;
    };
  });
}

}  // namespace vmimage::cli
