// `vmimage resolve REF`: what a reference names in its registry, as JSON; and
// the hidden `vmimage fetch-layers`, which writes verified layer tars (tests).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "oci/reference.h"
#include "util/file.h"
#include "util/parallel.h"

namespace vmimage::cli {
namespace {

struct ResolveArgs {
  std::string reference;
  std::string platform;
};

struct FetchArgs {
  std::string reference;
  std::string platform;
  std::string output_dir;
  int jobs = 3;
  int layer = -1;
};

Result<oci::Platform> platform_from(const std::string& text) {
  if (text.empty()) return oci::host_platform();
  return oci::parse_platform(text);
}

using Json = nlohmann::ordered_json;

Json layer_json(const registry::Layer& layer) {
  Json out;
  out["digest"] = layer.descriptor.digest.str();
  out["size"] = layer.descriptor.size;
  out["media_type"] = layer.descriptor.media_type;
  out["diff_id"] = layer.diff_id.str();
  return out;
}

Json image_json(const registry::ResolvedImage& image) {
  Json out;
  out["reference"] = image.reference.str();
  out["digest"] = image.digest.str();
  if (image.index_digest) out["index_digest"] = image.index_digest->str();
  out["media_type"] = image.manifest_media_type;
  out["platform"] = image.platform.str();
  Json config;
  config["digest"] = image.manifest.config.digest.str();
  Json runtime = oci::runtime_config_to_json(image.config.config);
  for (auto& [key, value] : runtime.items()) config[key] = value;
  out["config"] = config;
  out["layers"] = Json::array();
  for (const registry::Layer& layer : image.layers) out["layers"].push_back(layer_json(layer));
  return out;
}

Result<registry::ResolvedImage> resolve_image(const GlobalOptions& global, const std::string& text,
                                              const std::string& platform_text,
                                              std::unique_ptr<registry::Client>* client_out) {
  VMI_TRY(oci::Reference ref, oci::parse_reference(text));
  VMI_TRY(oci::Platform platform, platform_from(platform_text));
  VMI_TRY(auto client, registry::Client::create(make_client_options(global)));
  VMI_TRY(auto image, client->resolve(ref, platform));
  *client_out = std::move(client);
  return image;
}

// Prints one line per finished or failed layer on stderr.
class LineProgress : public registry::ProgressSink {
 public:
  void on_layer(const registry::LayerEvent& e) override {
    using Kind = registry::LayerEvent::Kind;
    if (e.kind != Kind::kDone && e.kind != Kind::kFailed) return;
    std::lock_guard lock(mu_);
    std::fprintf(
        stderr, "layer %d %s: %s\n", e.index, e.digest.str().c_str(),
        e.kind == Kind::kDone ? ("done, " + std::to_string(e.done) + " bytes").c_str() : "failed");
  }

 private:
  std::mutex mu_;
};

Status write_layer(registry::Client& client, const registry::ResolvedImage& image, size_t i,
                   const std::string& dir, registry::ProgressSink* progress) {
  VMI_TRY(auto tar,
          client.open_layer(image.reference, image.layers[i], progress, static_cast<int>(i)));
  VMI_TRY(AtomicFile out, AtomicFile::create(dir + "/" + std::to_string(i) + ".tar"));
  std::vector<std::byte> buf(256 * 1024);
  while (true) {
    VMI_TRY(size_t n, tar->read(buf));
    if (n == 0) break;
    VMI_CHECK(write_all(out.fd(), std::span(buf).first(n), out.temp_path()));
  }
  return out.commit();  // only a fully verified layer gets its final name
}

Result<int> fetch_layers(const GlobalOptions& global, const FetchArgs& args) {
  std::unique_ptr<registry::Client> client;
  VMI_TRY(auto image, resolve_image(global, args.reference, args.platform, &client));
  std::vector<size_t> todo;
  for (size_t i = 0; i < image.layers.size(); ++i) {
    if (args.layer < 0 || static_cast<size_t>(args.layer) == i) todo.push_back(i);
  }
  if (args.layer >= 0 && todo.empty()) {
    return Error(ErrorKind::kUsage, "the image has " + std::to_string(image.layers.size()) +
                                        " layers; no layer " + std::to_string(args.layer));
  }
  VMI_CHECK(make_dirs(args.output_dir));
  LineProgress line_progress;
  registry::ProgressSink* progress = global.quiet ? nullptr : &line_progress;
  VMI_CHECK(parallel_for(todo.size(), args.jobs, [&](size_t k) {
    return write_layer(*client, image, todo[k], args.output_dir, progress);
  }));
  VMI_CHECK(print_json(image_json(image)));
  return 0;
}

std::optional<long> env_number(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  char* end = nullptr;
  long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < 0) return std::nullopt;
  return n;
}

}  // namespace

registry::ClientOptions make_client_options(const GlobalOptions& global) {
  registry::ClientOptions o;
  o.insecure_registries = global.insecure_registries;
  if (const char* env = std::getenv("VMIMAGE_INSECURE_REGISTRIES")) {
    std::string list = env;
    for (size_t start = 0; start < list.size();) {
      size_t end = list.find_first_of(", ", start);
      if (end == std::string::npos) end = list.size();
      if (end > start) o.insecure_registries.push_back(list.substr(start, end - start));
      start = end + 1;
    }
  }
  o.ca_file = global.ca_file;
  o.limits = global.limits;
  // Limits for tests that inject faults and must stay fast.
  if (auto v = env_number("VMIMAGE_REGISTRY_STALL_TIMEOUT"))
    o.limits.stall_timeout = std::chrono::seconds(*v);
  if (auto v = env_number("VMIMAGE_REGISTRY_RETRIES")) o.limits.max_retries = static_cast<uint64_t>(*v);
  if (auto v = env_number("VMIMAGE_REGISTRY_BACKOFF_MS")) {
    o.retry.initial_backoff = std::chrono::milliseconds(*v);
  }
  if (auto v = env_number("VMIMAGE_REGISTRY_UPLOAD_CHUNK"); v && *v > 0) {
    o.upload_chunk = static_cast<uint64_t>(*v);
  }
  return o;
}

void add_resolve_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<ResolveArgs>();
  auto* cmd =
      app.add_subcommand("resolve", "Show the image a reference names in its registry (JSON)");
  cmd->add_option("reference", args->reference, "Image reference, e.g. alpine:3.19")->required();
  cmd->add_option("--platform", args->platform, "os/arch[/variant] (default: the host's)");
  cmd->callback([&ctx, args] {
    ctx.run = [&ctx, args]() -> Result<int> {
      std::unique_ptr<registry::Client> client;
      VMI_TRY(auto image, resolve_image(ctx.global, args->reference, args->platform, &client));
      VMI_CHECK(print_json(image_json(image)));
      return 0;
    };
  });
}

void add_fetch_layers_command(CLI::App& app, CliContext& ctx) {
  auto args = std::make_shared<FetchArgs>();
  auto* cmd = app.add_subcommand("fetch-layers", "Write each layer's verified tar (for tests)");
  cmd->group("");  // hidden
  cmd->add_option("reference", args->reference, "Image reference")->required();
  cmd->add_option("--platform", args->platform, "os/arch[/variant]");
  cmd->add_option("--output-dir", args->output_dir, "Directory for <index>.tar files")->required();
  cmd->add_option("--jobs", args->jobs, "Layers downloaded in parallel")->check(CLI::Range(1, 64));
  cmd->add_option("--layer", args->layer, "Only this layer (0-based)");
  cmd->callback([&ctx, args] {
    ctx.run = [&ctx, args]() -> Result<int> { return fetch_layers(ctx.global, *args); };
  });
}

}  // namespace vmimage::cli
