// `vmimage import [TAG] [FILE|DIR|-]`: stores the image of a docker-save or OCI
// archive (or OCI layout directory) in the local scope; stdin by default.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "cli/cli.h"
#include "util/file.h"
#include "vmimage/builder.h"

namespace vmimage::cli {
namespace {

bool is_input_path(const std::string& arg) {
  struct stat st;
  return arg == "-" || ::stat(arg.c_str(), &st) == 0;
}

}  // namespace

void add_import_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::vector<std::string> positional;
    std::string ref;
    std::string platform;
    std::string layout = "squashed";
    std::string fs = "erofs";
    std::optional<bool> verity;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "import", "Import an image from a docker-save or OCI archive (stdin by default)");
  cmd->add_option("TAG_AND_INPUT", args->positional,
                  "[TAG] [FILE|DIR|-]: TAG may be left out when the archive names one image")
      ->expected(0, 2);
  cmd->add_option("--ref", args->ref, "Which image of a multi-image archive (NAME:TAG)");
  cmd->add_option("--platform", args->platform, "os/arch[/variant] for multi-platform archives");
  cmd->add_option("--layout", args->layout, "squashed | layered | auto:N");
  cmd->add_option("--fs", args->fs, "Filesystem of the runtime lowers: erofs | ext4");
  add_verity_flags(*cmd, args->verity);
  cmd->callback([&ctx, args] {
    ctx.run = [&ctx, args]() -> Result<int> {
      std::string tag, input = "-";
      const auto& p = args->positional;
      if (p.size() == 2) {
        tag = p[0];
        input = p[1];
      } else if (p.size() == 1) {
        (is_input_path(p[0]) ? input : tag) = p[0];
      }
      VMI_TRY(BuildOptions options,
              build_options(ctx.global, args->platform, args->layout, args->fs));
      if (args->verity) options.verity = *args->verity;
      VMI_TRY(Builder builder, Builder::create(std::move(options)));
      ImportOptions import_options;
      if (!args->ref.empty()) import_options.ref = args->ref;
      struct stat st;
      Result<BuildResult> result = Error(ErrorKind::kInternal, "no input");
      if (input != "-" && ::stat(input.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
        result = builder.import_dir(input, tag, import_options, ctx.cancel);
      } else if (input == "-") {
        result = builder.import_fd(STDIN_FILENO, tag, import_options, ctx.cancel);
      } else {
        VMI_TRY(UniqueFd fd, open_read(input));
        result = builder.import_fd(fd.get(), tag, import_options, ctx.cancel);
      }
      if (!result) return std::move(result).error();
      if (!ctx.global.quiet) std::printf("%s\n", result->digest.c_str());
      return 0;
    };
  });
}

}  // namespace vmimage::cli
