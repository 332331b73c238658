// `vmimage export REF OUTPUT --type ext4|erofs [--size SIZE|--free SIZE]`: the
// image's whole root filesystem flattened into one image, from the stored blobs.
#include <cstdio>

#include "builder/export.h"
#include "cli/cli.h"
#include "cli/store_format.h"
#include "util/size.h"

namespace vmimage::cli {

namespace {

// The image as EROFS blobs, base first: its runtime lowers when they are EROFS
// (a squashed image is one blob), else its per-layer blobs, which always are
// (an image pulled with --fs ext4 has ext4 lowers).
Result<std::vector<std::string>> erofs_lowers(const BuildResult& image) {
  bool runtime_erofs = !image.lower_fs_types.empty();
  for (FsType t : image.lower_fs_types) runtime_erofs = runtime_erofs && t == FsType::kErofs;
  if (runtime_erofs) return image.lower_paths;
  std::vector<std::string> paths;
  for (const LayerRef& layer : image.canonical_layers) {
    if (layer.fs_type != FsType::kErofs) {
      return Error(ErrorKind::kStoreRead, "the image has no EROFS blobs to export from (" +
                                              layer.digest + " is " +
                                              std::string(fs_type_name(layer.fs_type)) + ")");
    }
    paths.push_back(layer.path);
  }
  if (paths.empty()) return Error(ErrorKind::kStoreRead, "the image records no layers");
  return paths;
}

}  // namespace

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
      VMI_TRY(std::vector<std::string> lowers, erofs_lowers(found.image.result));
      if (args->type == "erofs") {
        VMI_CHECK(builder::export_erofs(lowers, args->output));
        if (!ctx.global.quiet) std::printf("%s\n", args->output.c_str());
        return 0;
      }
      if (args->type != "ext4") {
        return Error(ErrorKind::kLayerFs,
                     "unknown filesystem type '" + args->type + "' (expected ext4 or erofs)");
      }
      ext4::Ext4Options options;
      if (!args->size.empty()) {
        VMI_TRY(options.size_bytes, parse_size(args->size));
      }
      if (!args->free.empty()) {
        VMI_TRY(options.extra_free_bytes, parse_size(args->free));
      }
      options.journal = true;  // a writable root disk
      VMI_TRY(ext4::Ext4Stats stats, builder::export_ext4(lowers, args->output, options));
      if (!ctx.global.quiet) {
        std::printf("%s: ext4, %s (content needs %s)\n", args->output.c_str(),
                    human_size(stats.size_bytes).c_str(), human_size(stats.min_size_bytes).c_str());
      }
      return 0;
    };
  });
}

}  // namespace vmimage::cli
