// `vmimage push SRC DEST [--layout layered|squashed]`: publishes a stored image
// as an EROFS-native OCI image (builder/push.h), with the other platforms the
// store holds of its source index under an image index (builder/push_index.h).
#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>

#include "builder/push.h"
#include "cli/cli.h"
#include "cli/store_format.h"

namespace vmimage::cli {
namespace {

// Push progress on stderr: a line per layer event; on a terminal, the bytes
// of the uploads under way on one line redrawn at most ten times a second.
// push_image never calls it twice at once.
class PushProgress {
 public:
  explicit PushProgress(bool tty) : tty_(tty) {}

  void on_event(const builder::PushEvent& e) {
    using Kind = builder::PushEvent::Kind;
    if (e.kind == Kind::kBytes) {
      sending_[e.index] = {e.done, e.total};
      if (tty_ && redraw_throttle_.due()) draw_sending();
      return;
    }
    sending_.erase(e.index);
    // Several platforms' images go up in one push: say whose layer it is.
    std::string image = e.platform.empty() ? "" : e.platform + " ";
    std::string layer = image + "layer " + std::to_string(e.index + 1);
    if (!e.digest.empty()) layer += " " + short_digest(e.digest);
    std::string what;
    switch (e.kind) {
      case Kind::kPreparing:
        what = layer + ": compressing " + human_size(e.total);
        break;
      case Kind::kExists:
        what = layer + ": already there";
        break;
      case Kind::kMounted:
        what = layer + ": mounted from another repository";
        break;
      case Kind::kUploaded:
        what = layer + ": uploaded " + human_size(e.total);
        break;
      case Kind::kManifest:
        what = image + "manifest " + e.digest + " stored";
        break;
      case Kind::kIndex:
        what = "index " + e.digest + " stored";
        break;
      case Kind::kSkipped:
        what = e.platform + ": left out of the index: " + e.message;
        break;
      case Kind::kBytes:
        break;
    }
    if (pending_) std::fprintf(stderr, "\x1b[2K\r");
    pending_ = false;
    std::fprintf(stderr, "%s\n", what.c_str());
    if (tty_ && !sending_.empty()) draw_sending();
  }

 private:
  // "sending layer 1 12.0 MB / 80.1 MB, layer 3 1.2 MB / 9.0 MB"
  void draw_sending() {
    std::string line = "sending";
    for (const auto& [index, bytes] : sending_) {
      line += (line == "sending" ? " layer " : ", layer ") + std::to_string(index + 1) + " " +
              human_size(bytes.first) + " / " + human_size(bytes.second);
    }
    std::fprintf(stderr, "\x1b[2K\r%s", line.c_str());
    std::fflush(stderr);
    pending_ = true;
  }

  bool tty_;
  bool pending_ = false;                                  // a sending line is on screen
  std::map<int, std::pair<uint64_t, uint64_t>> sending_;  // layer: done, total
  RedrawThrottle redraw_throttle_;
};

}  // namespace

void add_push_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::string src, dest, layout = "layered", compress = "none";
    int jobs = 3;
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
  cmd->add_option("--jobs", args->jobs, "Layers uploaded at once")
      ->check(CLI::Range(1, builder::kMaxPushJobs))
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
      options.jobs = args->jobs;
      auto progress = std::make_shared<PushProgress>(::isatty(STDERR_FILENO) == 1);
      if (!ctx.global.quiet && !ctx.global.json) {
        options.events = [progress](const builder::PushEvent& e) { progress->on_event(e); };
      }
      VMI_TRY(Store store, open_store(ctx.global));
      VMI_TRY(auto client, registry::Client::create(make_client_options(ctx.global)));
      VMI_TRY(
          builder::PushResult pushed,
          builder::push_stored(store, args->src, args->dest, *client, options, ctx.cancel.flag()));
      if (ctx.global.json) {
        VMI_CHECK(print_json(builder::push_result_json(pushed, options)));
        return 0;
      }
      // What DEST's tag now names: the index when several platforms went up.
      if (pushed.index) {
        std::printf("%s@%s\n", pushed.index->reference.c_str(), pushed.index->digest.c_str());
      } else {
        std::printf("%s@%s\n", pushed.reference.c_str(), pushed.digest.c_str());
      }
      return 0;
    };
  });
}

}  // namespace vmimage::cli
