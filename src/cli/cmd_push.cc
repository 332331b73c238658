// `vmimage push SRC DEST [--layout layered|squashed]`: publishes a stored image
// as an EROFS-native OCI image (builder/push.h).
#include <cstdio>

#include "builder/push.h"
#include "cli/cli.h"
#include "cli/store_format.h"

namespace vmimage::cli {

void add_push_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::string src, dest, layout = "layered", compress = "none";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "push", "Publish a stored image to a registry with its EROFS lowers as layers");
  cmd->add_option("SRC", args->src, "A stored image (tag)")->required();
  cmd->add_option("DEST", args->dest, "Where to push it: [REGISTRY/]REPOSITORY[:TAG]")->required();
  cmd->add_option("--layout", args->layout,
                  "layered (one EROFS layer per OCI layer) or squashed (the one squashed lower)")
      ->capture_default_str();
  cmd->add_option("--compress", args->compress,
                  "none (raw EROFS layers) or zstd (each layer one zstd frame, level " +
                      std::to_string(builder::kPushZstdLevel) + ", single-threaded)")
      ->capture_default_str();
  cmd->callback([&ctx, args] {
    ctx.run = [&ctx, args]() -> Result<int> {
      builder::PushOptions options;
      std::optional<builder::PushLayout> layout = builder::parse_push_layout(args->layout);
      if (!layout) {
        return Error(ErrorKind::kUsage,
                     "--layout must be layered or squashed, not \"" + args->layout + "\"");
      }
      options.layout = *layout;
      std::optional<builder::PushCompression> compression =
          builder::parse_push_compression(args->compress);
      if (!compression) {
        return Error(ErrorKind::kUsage,
                     "--compress must be none or zstd, not \"" + args->compress + "\"");
      }
      options.compression = *compression;
      VMI_TRY(Store store, open_store(ctx.global));
      VMI_TRY(auto client, registry::Client::create(make_client_options(ctx.global)));
      VMI_TRY(builder::PushResult pushed,
              builder::push_stored(store, args->src, args->dest, *client, options,
                                   ctx.cancel.flag()));
      if (ctx.global.json) {
        VMI_CHECK(print_json(builder::push_result_json(pushed, options)));
        return 0;
      }
      if (!ctx.global.quiet) {
        for (size_t i = 0; i < pushed.layers.size(); ++i) {
          const auto& l = pushed.layers[i];
          std::printf("layer %zu/%zu %s %s %s\n", i + 1, pushed.layers.size(),
                      short_digest(l.digest).c_str(), human_size(l.size).c_str(),
                      l.uploaded  ? "uploaded"
                      : l.mounted ? "mounted"
                                  : "already there");
        }
      }
      std::printf("%s@%s\n", pushed.reference.c_str(), pushed.digest.c_str());
      return 0;
    };
  });
}

}  // namespace vmimage::cli
