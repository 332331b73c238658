// `vmimage mkfs`: one layer tar (gzip, zstd or plain, by magic; "-" = stdin) →
// one EROFS or ext4 image, through the layer engine (builder::LayerConverter)
// that pull and import use too.
#include <charconv>
#include <cstdio>
#include <memory>

#include <nlohmann/json.hpp>

#include "builder/layer_converter.h"
#include "builder/merged_images.h"
#include "cli/cli.h"
#include "store/image_json.h"
#include "io/decompress.h"
#include "io/identity.h"
#include "util/file.h"
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
  std::optional<bool> verity;
  std::string verity_salt;
};

Result<builder::LayerImageOptions> image_options(const MkfsArgs& args) {
  builder::LayerImageOptions opts;
  std::optional<FsType> type = parse_fs_type(args.type);
  if (!type) {
    return Error(ErrorKind::kLayerFs, "unsupported filesystem type \"" + args.type +
                                          "\" (this build makes: erofs, ext4)");
  }
  opts.fs_type = *type;
  if (opts.fs_type == FsType::kErofs && (!args.size.empty() || !args.free.empty())) {
    return Error(ErrorKind::kUsage, "--size and --free apply to --type ext4 only");
  }
  if (!args.size.empty() && !args.free.empty()) {
    return Error(ErrorKind::kUsage, "--size and --free exclude each other");
  }
  opts.block_size = args.block_size;
  opts.label = args.label;
  VMI_TRY(opts.verity, verity_salt_option(args.verity, args.verity_salt, false));
  if (args.mtime != "keep") {
    int64_t value = 0;
    const char* end = args.mtime.data() + args.mtime.size();
    auto [ptr, ec] = std::from_chars(args.mtime.data(), end, value);
    if (ec != std::errc() || ptr != end) {
      return Error(ErrorKind::kUsage, "--mtime takes \"keep\" or whole seconds since the epoch, "
                                      "not \"" + args.mtime + "\"");
    }
    opts.mtime = value;
  }
  if (args.uuid != "auto") {
    VMI_TRY(opts.uuid, io::parse_uuid(args.uuid));
  }
  if (!args.size.empty()) {
    VMI_TRY(opts.size_bytes, parse_size(args.size));
  }
  if (!args.free.empty()) {
    VMI_TRY(opts.extra_free_bytes, parse_size(args.free));
  }
  opts.page_cache = PageCache::kDropBehind;  // a file for the user, not read back here
  return opts;
}

Result<std::unique_ptr<io::Reader>> open_input(const std::string& input,
                                               const CancelToken& cancel) {
  std::unique_ptr<io::FdReader> reader;
  if (input == "-") {
    reader = std::make_unique<io::FdReader>(0, "stdin");
  } else {
    VMI_TRY(reader, io::FdReader::open(input));
  }
  reader->set_cancel(cancel.flag());
  return std::unique_ptr<io::Reader>(std::move(reader));
}

std::string megabytes(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

void print_warnings(const builder::LayerConverter& c, bool have_lower, const std::string& name) {
  for (const std::string& w : c.warnings()) std::fprintf(stderr, "vmimage: warning: %s\n", w.c_str());
  if (c.layer_stats().root_opaque && !have_lower) {
    std::fprintf(stderr, "vmimage: warning: %s: the root is opaque; without --lower the lower "
                         "layers' top-level names stay visible\n", name.c_str());
  }
}

Status print_summary(const MkfsArgs& args, const builder::LayerConverter& c, bool json) {
  const tree::LayerStats& l = c.layer_stats();
  bool ext4 = args.type == "ext4";
  uint64_t image_bytes = ext4 ? c.ext4_stats().size_bytes : c.erofs_stats().image_bytes;
  if (json) {
    nlohmann::ordered_json j = {{"output", args.output},
                                {"type", args.type},
                                {"diff_id", c.diff_id()},
                                {"uuid", io::format_uuid(c.uuid())},
                                {"entries", l.entries},
                                {"files", l.files},
                                {"file_bytes", l.file_bytes},
                                {"hardlinks", l.hardlinks},
                                {"whiteouts", l.whiteouts},
                                {"whiteouts_dropped", l.whiteouts_dropped},
                                {"opaque_dirs", l.opaque_dirs},
                                {"tar_bytes", c.tar_bytes()},
                                {"image_bytes", image_bytes},
                                {"context_used", c.context_used()}};
    if (c.verity()) j["verity"] = store_json::verity_json(*c.verity());
    if (ext4) {
      const ext4::Ext4Stats& img = c.ext4_stats();
      j["min_image_bytes"] = img.min_size_bytes;
      j["auto_sized"] = img.auto_sized;
      j["free_blocks"] = img.free_blocks;
      j["inodes"] = img.inodes;
    }
    return print_json(j, -1);
  }
  std::string image = "image " + megabytes(image_bytes);
  if (ext4) {
    const ext4::Ext4Stats& img = c.ext4_stats();
    image = "ext4 " + format_size(img.size_bytes) + " (" +
            (img.auto_sized ? "size chosen automatically" : "size as given") +
            "; content needs " + format_size(img.min_size_bytes) + ")";
  }
  std::printf("%s: %llu entries, %llu files (%s), %llu whiteouts, %s, diff_id %s\n",
              args.output.c_str(), static_cast<unsigned long long>(l.entries),
              static_cast<unsigned long long>(l.files), megabytes(l.file_bytes).c_str(),
              static_cast<unsigned long long>(l.whiteouts), image.c_str(), c.diff_id().c_str());
  if (c.verity()) print_verity(*c.verity());
  return {};
}

Result<int> run_mkfs(const MkfsArgs& args, const GlobalOptions& global,
                     const CancelToken& cancel) {
  VMI_CHECK(check_utf8(args.output, "OUTPUT"));
  // Options first: a usage error must not wait for the lowers or the input.
  VMI_TRY(builder::LayerImageOptions options, image_options(args));
  std::optional<builder::MergedImages> lower;
  if (!args.lowers.empty()) {
    VMI_TRY(lower, builder::merge_images(args.lowers));
  }
  std::string name = args.input == "-" ? "stdin" : args.input;
  VMI_TRY(auto raw, open_input(args.input, cancel));
  VMI_TRY(io::Decompressed input, io::open_decompressed(std::move(raw), name));
  VMI_TRY(AtomicFile out, AtomicFile::create(args.output));
  VMI_TRY(auto converter, builder::LayerConverter::create(out.fd(), out.temp_path(),
                                                          dirname_of(args.output), options));
  builder::ImageBudget budget(global.limits);
  VMI_CHECK(converter->stream(*input.reader, name, budget, std::nullopt, cancel.flag()));
  Status finished = converter->finish(lower ? &lower->tree : nullptr);
  if (!finished) return std::move(finished).error().context("writing " + args.output);
  VMI_CHECK(out.commit());
  if (!global.quiet) {
    print_warnings(*converter, lower.has_value(), name);
    VMI_CHECK(print_summary(args, *converter, global.json));
  }
  return 0;
}

}  // namespace

void add_mkfs_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<MkfsArgs>();
  auto* cmd = app.add_subcommand("mkfs", "Convert one OCI layer tar into a filesystem image");
  cmd->add_option("--type", args->type, "Filesystem type: erofs or ext4")->capture_default_str();
  cmd->add_option("--size", args->size,
                  "ext4: the total size of the image, e.g. 512M or 2G (default: what the "
                  "content needs plus a little slack)");
  cmd->add_option("--free", args->free,
                  "ext4: size the image so that at least this much is available once "
                  "mounted (as df shows it)");
  cmd->add_option("--block-size", args->block_size, "Block size in bytes")->capture_default_str();
  cmd->add_option("--mtime", args->mtime, "keep, or SECONDS to give every inode")
      ->capture_default_str();
  cmd->add_option("--uuid", args->uuid, "UUID, or auto (derived from the content)")
      ->capture_default_str();
  cmd->add_option("--label", args->label, "Volume label (EROFS: at most 15 bytes, ext4: 16)");
  cmd->add_option("--lower", args->lowers,
                  "Image of a layer below, EROFS or ext4 (repeatable, base first): lets "
                  "whiteouts and implicit directories be resolved against the layers below")
      ->allow_extra_args(false);
  cmd->add_option("INPUT", args->input, "Layer tar (gzip, zstd or plain), or - for stdin")
      ->required();
  cmd->add_option("OUTPUT", args->output, "Image to write")->required();
  add_verity_flags(*cmd, args->verity);
  cmd->add_option("--verity-salt", args->verity_salt,
                  "With --verity: the salt, 64 hex digits (default: vmimage's fixed salt)");
  cmd->callback(
      [&ctx, args] { ctx.run = [&ctx, args] { return run_mkfs(*args, ctx.global, ctx.cancel); }; });
}

}  // namespace vmimage::cli
