// `vmimage pull REF`: pulls (or finds cached) an image and prints its digest.
// Progress: redrawn bars on a terminal, one line per event otherwise, none with -q.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>

#include "cli/cli.h"
#include "builder/layer_store.h"
#include "cli/store_format.h"
#include "vmimage/builder.h"

namespace vmimage::cli {
namespace {

struct LayerLine {
  std::string digest;
  std::string state = "waiting";
  uint64_t done = 0;
  uint64_t total = 0;
};

// Draws build events; called from several threads.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool tty) : tty_(tty), start_(std::chrono::steady_clock::now()) {}

  void on_event(const BuildEvent& e) {
    std::lock_guard<std::mutex> lock(mu_);
    if (e.kind == BuildEvent::Kind::kWarning) {
      std::fprintf(stderr, "vmimage: warning: %s\n", e.message.c_str());
      drawn_ = 0;  // the bars start again below it
      return;
    }
    if (e.index >= 0) update(e);
    if (tty_) {
      if (e.kind != BuildEvent::Kind::kBytes || redraw_throttle_.due()) redraw();
    } else if (e.kind != BuildEvent::Kind::kBytes) {
      std::fprintf(stderr, "%s\n", describe(e).c_str());
    }
  }

 private:
  void update(const BuildEvent& e) {
    LayerLine& l = layers_[e.index];
    if (!e.digest.empty() && l.digest.empty()) l.digest = e.digest;
    switch (e.kind) {
      case BuildEvent::Kind::kResolved:
        l.total = e.total;
        break;
      case BuildEvent::Kind::kCached:
        l.state = "cached";
        break;
      case BuildEvent::Kind::kBytes:
        l.state = "downloading";
        l.done = e.done;
        l.total = e.total;
        break;
      case BuildEvent::Kind::kConverting:
        l.state = "converting";
        break;
      case BuildEvent::Kind::kChecking:
        l.state = "checking";
        break;
      case BuildEvent::Kind::kDone:
        l.state = "done";
        l.done = l.total;
        break;
      default:
        break;
    }
  }

  void redraw() {
    if (drawn_ > 0) std::fprintf(stderr, "\x1b[%dA", drawn_);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    drawn_ = 0;
    for (const auto& [index, l] : layers_) {
      std::string bytes = human_size(l.done) + " / " + human_size(l.total);
      std::string rate = l.state == "downloading" && secs > 0
                             ? human_size(static_cast<uint64_t>(l.done / secs)) + "/s"
                             : "";
      std::fprintf(stderr, "\x1b[2Klayer %d %-19.19s %-11s %s %s\n", index + 1,
                   short_digest(l.digest).c_str(), l.state.c_str(), bytes.c_str(), rate.c_str());
      ++drawn_;
    }
    std::fflush(stderr);
  }

  static std::string describe(const BuildEvent& e) {
    std::string layer = "layer " + std::to_string(e.index + 1) + " " + short_digest(e.digest);
    switch (e.kind) {
      case BuildEvent::Kind::kResolved:
        return layer + ": " + human_size(e.total) + " to fetch";
      case BuildEvent::Kind::kCached:
        return layer + ": cached";
      case BuildEvent::Kind::kConverting:
        return layer + ": downloaded, completing filesystem";
      case BuildEvent::Kind::kChecking:
        return layer + ": downloaded EROFS image, checking it";
      case BuildEvent::Kind::kDone:
        return layer + ": done";
      case BuildEvent::Kind::kSquashing:
        return "writing the squashed lower";
      case BuildEvent::Kind::kSaved:
        return "saved " + e.digest;
      case BuildEvent::Kind::kFoundConverted:
        return "found a converted image, " + e.digest + ": pulling it instead of converting";
      case BuildEvent::Kind::kPublished:
        return "published the converted image " + e.digest;
      default:
        return layer;
    }
  }

  bool tty_;
  std::mutex mu_;
  std::map<int, LayerLine> layers_;
  int drawn_ = 0;
  std::chrono::steady_clock::time_point start_;
  RedrawThrottle redraw_throttle_;
};

}  // namespace

Result<std::optional<bool>> verity_default() {
  const char* env = std::getenv("VMIMAGE_VERITY");
  if (env == nullptr || std::string_view(env).empty()) return std::optional<bool>();
  if (std::string_view(env) == "0") return std::optional<bool>(false);
  if (std::string_view(env) == "1") return std::optional<bool>(true);
  return Error(ErrorKind::kUsage, "$VMIMAGE_VERITY is \"" + std::string(env) + "\" (expected 0 or 1)");
}

Result<std::optional<verity::Salt>> verity_salt_option(const std::optional<bool>& verity,
                                                       const std::string& salt_hex,
                                                       bool store_default) {
  bool on = store_default;
  if (verity) {
    on = *verity;
  } else {
    VMI_TRY(std::optional<bool> env, verity_default());
    if (env) on = *env;
  }
  if (!on) {
    if (!salt_hex.empty()) return Error(ErrorKind::kUsage, "--verity-salt needs --verity");
    return std::optional<verity::Salt>();
  }
  if (salt_hex.empty()) return std::optional<verity::Salt>(builder::store_verity_salt());
  std::optional<verity::Salt> salt = verity::parse_salt(salt_hex);
  if (!salt) {
    return Error(ErrorKind::kUsage, "--verity-salt takes 64 hex digits, not \"" + salt_hex + "\"");
  }
  return salt;
}

void print_verity(const VerityInfo& v) {
  std::printf("dm-verity: root hash %s, salt %s, hash offset %llu\n  table: %s\n",
              v.root_hash.c_str(), v.salt.c_str(), static_cast<unsigned long long>(v.hash_offset),
              verity_dm_table(v, "DEVICE").c_str());
}

void add_verity_flags(CLI::App& cmd, std::optional<bool>& verity) {
  cmd.add_flag_callback("--verity", [&verity] { verity = true; },
                        "Give every blob a dm-verity hash tree (default: $VMIMAGE_VERITY, "
                        "else the store's: vmimage config verity)");
  cmd.add_flag_callback("--no-verity", [&verity] { verity = false; },
                        "No dm-verity trees, whatever $VMIMAGE_VERITY or the store says");
}

Result<BuildOptions> build_options(const GlobalOptions& global, const std::string& platform,
                                   const std::string& layout, const std::string& fs) {
  BuildOptions options;
  options.cache_dir = global.cache_dir;
  options.platform = platform;
  VMI_TRY(options.layout, parse_layout(layout));
  std::optional<FsType> fs_type = parse_fs_type(fs);
  if (!fs_type) {
    return Error(ErrorKind::kLayerFs,
                 "unknown layer filesystem '" + fs + "' (expected erofs or ext4)");
  }
  options.fs_type = *fs_type;
  VMI_TRY(options.verity, verity_default());
  registry::ClientOptions client = make_client_options(global);  // flags and environment
  options.insecure_registries = client.insecure_registries;
  options.ca_file = client.ca_file;
  options.limits = client.limits;
  return options;
}

void add_pull_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::string ref;
    std::string platform;
    bool force = false;
    std::string layout = "squashed";
    std::string fs = "erofs";
    int jobs = 3;
    std::string converted_repo;
    bool publish = false;
    std::optional<bool> verity;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("pull", "Pull an image and convert it to EROFS lowers");
  cmd->add_option("REF", args->ref, "Image reference (e.g. alpine:3.20)")->required();
  cmd->add_option("--platform", args->platform, "os/arch[/variant] (default: the host's)");
  cmd->add_flag("--force", args->force, "Pull even when the image is cached");
  cmd->add_option("--layout", args->layout, "squashed | layered | auto:N");
  cmd->add_option("--fs", args->fs, "Filesystem of the runtime lowers: erofs | ext4");
  cmd->add_option("--jobs", args->jobs, "Layers fetched at once")->check(CLI::Range(1, 64));
  cmd->add_option("--converted-repo", args->converted_repo,
                  "[REGISTRY/]REPOSITORY holding converted images: pull the one of this "
                  "image's manifest instead of converting, when there is one");
  cmd->add_flag("--publish", args->publish,
                "With --converted-repo: when converted here, push the result there for others");
  add_verity_flags(*cmd, args->verity);
  cmd->callback([&ctx, args] {
    ctx.run = [&ctx, args]() -> Result<int> {
      VMI_TRY(BuildOptions options,
              build_options(ctx.global, args->platform, args->layout, args->fs));
      if (args->verity) options.verity = *args->verity;
      options.force_pull = args->force;
      options.jobs = args->jobs;
      if (args->publish && args->converted_repo.empty()) {
        return Error(ErrorKind::kUsage, "--publish needs --converted-repo");
      }
      options.converted_repo = args->converted_repo;
      options.publish_converted = args->publish;
      auto printer = std::make_shared<ProgressPrinter>(::isatty(STDERR_FILENO) == 1);
      if (!ctx.global.quiet && !ctx.global.json) {
        options.events = [printer](const BuildEvent& e) { printer->on_event(e); };
      }
      VMI_TRY(Builder builder, Builder::create(std::move(options)));
      VMI_TRY(BuildResult result, builder.build(args->ref, ctx.cancel));
      if (ctx.global.json) {
        nlohmann::ordered_json j;
        j["digest"] = result.digest;
        j["cached"] = result.cached;
        j["rootfs_path"] = result.rootfs_path;
        j["lower_paths"] = result.lower_paths;
        VMI_CHECK(print_json(j));
      } else {
        std::printf("%s\n", result.digest.c_str());
      }
      return 0;
    };
  });
}

}  // namespace vmimage::cli
