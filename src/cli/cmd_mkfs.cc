// `vmimage mkfs`: one layer tar (gzip, zstd or plain, by magic; "-" = stdin) →
// one EROFS or ext4 image. The conversions are builder::convert_layer and
// builder::convert_layer_ext4.
#include <charconv>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "builder/convert_layer.h"
#include "builder/convert_layer_ext4.h"
#include "cli/cli.h"
#include "io/decompress.h"
#include "util/size.h"

namespace vmimage::cli {

namespace {

struct MkfsArgs {
  std::string type = "erofs";
  uint32_t block_size = 4096;
  std::string mtime = "keep";
  std::string uuid = "auto";
  std::string label;
  std::vector<std::string> lowers;
  std::string input;
  std::string output;
  std::string size;  // ext4 only
  std::string free;  // ext4 only
};

Result<builder::ConvertOptions> convert_options(const MkfsArgs& args) {
  builder::ConvertOptions opts;
  opts.block_size = args.block_size;
  opts.label = args.label;
  if (args.mtime != "keep") {
    int64_t value = 0;
    const char* end = args.mtime.data() + args.mtime.size();
    auto [ptr, ec] = std::from_chars(args.mtime.data(), end, value);
    if (ec != std::errc() || ptr != end) {
      return Error(ErrorKind::kUsage,
                   "--mtime takes \"keep\" or whole seconds since the epoch, "
                   "not \"" +
                       args.mtime + "\"");
    }
    opts.mtime = value;
  }
  if (args.uuid != "auto") {
    VMI_TRY(opts.uuid, builder::parse_uuid(args.uuid));
  }
  return opts;
}

Result<std::unique_ptr<io::Reader>> open_input(const std::string& input) {
  if (input == "-") return std::unique_ptr<io::Reader>(std::make_unique<io::FdReader>(0, "stdin"));
  VMI_TRY(auto reader, io::FdReader::open(input));
  return std::unique_ptr<io::Reader>(std::move(reader));
}

std::string megabytes(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

Status print_summary(const MkfsArgs& args, const builder::ConvertResult& r, bool json) {
  const tree::LayerStats& l = r.stats.layer;
  if (json) {
    nlohmann::ordered_json j = {{"output", args.output},
                        {"diff_id", r.diff_id},
                        {"uuid", builder::format_uuid(r.uuid)},
                        {"entries", l.entries},
                        {"files", l.files},
                        {"file_bytes", l.file_bytes},
                        {"hardlinks", l.hardlinks},
                        {"whiteouts", l.whiteouts},
                        {"whiteouts_dropped", l.whiteouts_dropped},
                        {"opaque_dirs", l.opaque_dirs},
                        {"tar_bytes", r.stats.tar_bytes},
                        {"image_bytes", r.stats.image.image_bytes},
                        {"context_used", r.context_used}};
    return print_json(j, -1);
  }
  std::printf("%s: %llu entries, %llu files (%s), %llu whiteouts, image %s, diff_id %s\n",
              args.output.c_str(), static_cast<unsigned long long>(l.entries),
              static_cast<unsigned long long>(l.files), megabytes(l.file_bytes).c_str(),
              static_cast<unsigned long long>(l.whiteouts),
              megabytes(r.stats.image.image_bytes).c_str(), r.diff_id.c_str());
  return {};
}

void print_warnings(const std::vector<std::string>& warnings, const tree::LayerStats& layer,
                    bool have_lower, const std::string& name) {
  for (const std::string& w : warnings) std::fprintf(stderr, "vmimage: warning: %s\n", w.c_str());
  if (layer.root_opaque && !have_lower) {
    std::fprintf(stderr, "vmimage: warning: %s: the root is opaque; without --lower the lower "
                         "layers' top-level names stay visible\n", name.c_str());
  }
}

Result<builder::Ext4ConvertOptions> ext4_options(const MkfsArgs& args) {
  VMI_TRY(builder::ConvertOptions common, convert_options(args));
  if (args.block_size != 4096) {
    return Error(ErrorKind::kUsage, "ext4 images use 4096-byte blocks, not " +
                                        std::to_string(args.block_size));
  }
  builder::Ext4ConvertOptions opts;
  opts.mtime = common.mtime;
  opts.uuid = common.uuid;
  opts.label = common.label;
  if (!args.size.empty()) {
    VMI_TRY(opts.size_bytes, parse_size(args.size));
  }
  if (!args.free.empty()) {
    VMI_TRY(opts.extra_free_bytes, parse_size(args.free));
  }
  if (!args.size.empty() && !args.free.empty()) {
    return Error(ErrorKind::kUsage, "--size and --free exclude each other");
  }
  return opts;
}

Status print_ext4_summary(const MkfsArgs& args, const builder::Ext4ConvertResult& r,
                          bool json) {
  const tree::LayerStats& l = r.layer;
  const ext4::Ext4Stats& img = r.image;
  if (json) {
    nlohmann::ordered_json j = {{"output", args.output},       {"type", "ext4"},
                        {"diff_id", r.diff_id},        {"uuid", img.uuid},
                        {"entries", l.entries},        {"files", l.files},
                        {"file_bytes", l.file_bytes},  {"hardlinks", l.hardlinks},
                        {"whiteouts", l.whiteouts},    {"whiteouts_dropped", l.whiteouts_dropped},
                        {"opaque_dirs", l.opaque_dirs}, {"tar_bytes", r.tar_bytes},
                        {"image_bytes", img.size_bytes}, {"min_image_bytes", img.min_size_bytes},
                        {"auto_sized", img.auto_sized}, {"free_blocks", img.free_blocks},
                        {"inodes", img.inodes},        {"context_used", r.context_used}};
    return print_json(j, -1);
  }
  std::printf("%s: %llu entries, %llu files (%s), %llu whiteouts, ext4 %s (%s; content needs "
              "%s), diff_id %s\n",
              args.output.c_str(), static_cast<unsigned long long>(l.entries),
              static_cast<unsigned long long>(l.files), megabytes(l.file_bytes).c_str(),
              static_cast<unsigned long long>(l.whiteouts), format_size(img.size_bytes).c_str(),
              img.auto_sized ? "size chosen automatically" : "size as given",
              format_size(img.min_size_bytes).c_str(), r.diff_id.c_str());
  return {};
}

Result<int> run_ext4(const MkfsArgs& args, const GlobalOptions& global, io::Reader& input,
                     const std::string& name, const tree::Tree* lower,
                     const builder::Ext4ConvertOptions& opts) {
  VMI_TRY(builder::Ext4ConvertResult result,
          builder::convert_layer_ext4(input, name, args.output, opts, lower));
  if (!global.quiet) {
    print_warnings(result.warnings, result.layer, lower != nullptr, name);
    VMI_CHECK(print_ext4_summary(args, result, global.json));
  }
  return 0;
}

Result<int> run_mkfs(const MkfsArgs& args, const GlobalOptions& global) {
  VMI_CHECK(check_utf8(args.output, "OUTPUT"));
  if (args.type != "erofs" && args.type != "ext4") {
    return Error(ErrorKind::kLayerFs, "unsupported filesystem type \"" + args.type +
                                          "\" (this build makes: erofs, ext4)");
  }
  if (args.type == "erofs" && (!args.size.empty() || !args.free.empty())) {
    return Error(ErrorKind::kUsage, "--size and --free apply to --type ext4 only");
  }
  // Options first: a usage error must not wait for the lowers or the input.
  builder::Ext4ConvertOptions ext4_opts;
  builder::ConvertOptions opts;
  if (args.type == "ext4") {
    VMI_TRY(ext4_opts, ext4_options(args));
  } else {
    VMI_TRY(opts, convert_options(args));
  }
  opts.limits = global.limits;
  ext4_opts.limits = global.limits;
  std::optional<tree::Tree> lower;
  if (!args.lowers.empty()) {
    VMI_TRY(lower, builder::lower_context_from_images(args.lowers));
  }
  std::string name = args.input == "-" ? "stdin" : args.input;
  VMI_TRY(auto raw, open_input(args.input));
  VMI_TRY(io::Decompressed input,
          io::open_decompressed(std::move(raw), name));
  if (args.type == "ext4") {
    return run_ext4(args, global, *input.reader, name, lower ? &*lower : nullptr, ext4_opts);
  }
  VMI_TRY(builder::ConvertResult result, builder::convert_layer(*input.reader, name, args.output,
                                                                opts, lower ? &*lower : nullptr));
  if (!global.quiet) {
    print_warnings(result.warnings, result.stats.layer, lower.has_value(), name);
    VMI_CHECK(print_summary(args, result, global.json));
  }
  return 0;
}

}  // namespace

void add_mkfs_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<MkfsArgs>();
  auto* cmd = app.add_subcommand("mkfs", "Convert one OCI layer tar into a filesystem image");
  cmd->add_option("--type", args->type, "Filesystem type: erofs or ext4")->capture_default_str();
  cmd->add_option("--size", args->size,
                  "ext4 image size, e.g. 512M or 2G (default: what the content needs plus a "
                  "little slack)");
  cmd->add_option("--free", args->free, "ext4: free space to add to the automatic size");
  cmd->add_option("--block-size", args->block_size, "Block size in bytes")->capture_default_str();
  cmd->add_option("--mtime", args->mtime, "keep, or SECONDS to give every inode")
      ->capture_default_str();
  cmd->add_option("--uuid", args->uuid, "UUID, or auto (derived from the content)")
      ->capture_default_str();
  cmd->add_option("--label", args->label, "Volume label (EROFS: at most 15 bytes, ext4: 16)");
  cmd->add_option("--lower", args->lowers,
                  "EROFS image of a layer below (repeatable, base first): lets whiteouts and "
                  "implicit directories be resolved against the layers below")
      ->allow_extra_args(false);
  cmd->add_option("INPUT", args->input, "Layer tar (gzip, zstd or plain), or - for stdin")
      ->required();
  cmd->add_option("OUTPUT", args->output, "Image to write")->required();
  cmd->callback([&ctx, args] { ctx.run = [&ctx, args] { return run_mkfs(*args, ctx.global); }; });
}

}  // namespace vmimage::cli
