// Builder: the pipelines that join a source (registry, archive), the layer
// converter and the store. Build() answers from the local scope, then the
// registry cache, then pulls; every image ends as canonical per-layer blobs plus
// the runtime lowers its layout asks for.
#include "vmimage/builder.h"

#include <unistd.h>

#include <mutex>

#include "builder/export.h"
#include "builder/layer_store.h"
#include "builder/squash.h"
#include "fs/erofs/reader.h"
#include "oci/platform.h"
#include "oci/reference.h"
#include "io/decompress.h"
#include "io/sha256.h"
#include "source/archive/archive.h"
#include "source/registry/client.h"
#include "util/file.h"
#include "util/text.h"

namespace vmimage {

struct Builder::Impl {
  BuildOptions options;
  Store store;
  std::unique_ptr<registry::Client> client;

  Result<registry::Client*> registry_client();
  Result<std::optional<BuildResult>> cached(std::string_view given, const oci::Reference& ref);
  Result<BuildResult> pull(const oci::Reference& ref);
  Result<std::vector<LayerRef>> runtime_lowers(Lease& lease, const std::vector<std::string>& diff_ids,
                                               builder::StoredLayers& layers);
  Result<std::vector<LayerRef>> as_fs_type(Lease& lease, const std::vector<LayerRef>& lowers);
  Result<LayerRef> squash(Lease& lease, const std::vector<std::string>& diff_ids,
                          builder::StoredLayers& layers);
  Result<BuildResult> import_image(
      std::string_view tag, const ImportOptions& options,
      const std::function<Result<archive::ImportedImage>(archive::BlobHandler&,
                                                         const archive::ImportOptions&)>& walk);
  Result<BuildResult> record(Scope scope, const std::string& tag, const ImageLayers& layers,
                             const ImageMeta& meta);
  void emit(BuildEvent::Kind kind, int index, std::string digest = {}, uint64_t done = 0,
            uint64_t total = 0);
};

namespace {

OCIConfig oci_config_of(const oci::ImageConfig& config) {
  OCIConfig out;
  out.user = config.config.user;
  out.working_dir = config.config.working_dir;
  out.entrypoint = config.config.entrypoint;
  out.cmd = config.config.cmd;
  for (const std::string& kv : config.config.env) {
    size_t eq = kv.find('=');
    out.env[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  }
  return out;
}

Status check_layer_count(const std::string& image, size_t layers, const Limits& limits) {
  if (layers <= limits.max_layers) return {};
  return Error(ErrorKind::kPullImage, image + " has " + std::to_string(layers) +
                                          " layers, more than " +
                                          std::to_string(limits.max_layers) + " (limit max-layers)");
}

uint64_t total_size(const std::vector<LayerRef>& layers) {
  uint64_t n = 0;
  for (const LayerRef& l : layers) n += l.size;
  return n;
}

// Registry byte counts → build events.
class ProgressAdapter : public registry::ProgressSink {
 public:
  explicit ProgressAdapter(const BuildEvents& events) : events_(events) {}
  void on_layer(const registry::LayerEvent& e) override {
    if (!events_) return;
    BuildEvent out;
    out.index = e.index;
    out.digest = e.digest.str();
    out.done = e.done;
    out.total = e.total;
    switch (e.kind) {
      case registry::LayerEvent::Kind::kResolved: out.kind = BuildEvent::Kind::kResolved; break;
      case registry::LayerEvent::Kind::kBytes: out.kind = BuildEvent::Kind::kBytes; break;
      default: return;  // converting and done come from the layer store
    }
    std::lock_guard<std::mutex> lock(mu_);
    events_(out);
  }

 private:
  const BuildEvents& events_;
  std::mutex mu_;
};

// Converts each layer blob as the archive streams past, into a store temp file
// under a provisional key; store_layers later commits it under its real key.
class ImportHandler : public archive::BlobHandler {
 public:
  ImportHandler(Store& store, Lease& lease, builder::ImageBudget& budget)
      : store_(store), lease_(lease), budget_(budget) {}

  Result<archive::ConvertedBlob> on_blob(const std::string& member, io::Reader& stream) override {
    auto layer = std::make_shared<builder::PrestreamedLayer>();
    std::string provisional = io::sha256_digest("vmimage-import " + lease_.id() + " " +
                                                std::to_string(layers_.size()));
    VMI_TRY(BlobWriter writer, lease_.begin_blob(provisional, FsType::kErofs));
    layer->writer = std::move(writer);
    VMI_TRY(layer->conversion,
            builder::LayerConversion::create(layer->writer->fd(), layer->writer->temp_path(),
                                             store_.cache_root() + "/tmp"));
    // stream() reads `tar` ahead on other threads: `stream` is not touched
    // elsewhere until `tar` is gone.
    VMI_TRY(io::Decompressed tar,
            io::open_decompressed(std::make_unique<io::BorrowedReader>(stream), member));
    VMI_CHECK(layer->conversion->stream(*tar.reader, member, budget_));
    layers_.push_back(layer);
    return archive::ConvertedBlob{layer->conversion->diff_id(), layers_.size() - 1};
  }

  std::shared_ptr<builder::PrestreamedLayer> layer(uint64_t handle) { return layers_.at(handle); }

 private:
  Store& store_;
  Lease& lease_;
  builder::ImageBudget& budget_;
  std::vector<std::shared_ptr<builder::PrestreamedLayer>> layers_;
};
}  // namespace

void Builder::Impl::emit(BuildEvent::Kind kind, int index, std::string digest, uint64_t done,
                         uint64_t total) {
  if (!options.events) return;
  BuildEvent e{kind, index, std::move(digest), done, total, {}};
  options.events(e);
}

Result<registry::Client*> Builder::Impl::registry_client() {
  if (!client) {
    registry::ClientOptions o;
    o.insecure_registries = options.insecure_registries;
    o.ca_file = options.ca_file;
    o.limits = options.limits;
    VMI_TRY(client, registry::Client::create(std::move(o)));
  }
  return client.get();
}

Result<std::optional<BuildResult>> Builder::Impl::cached(std::string_view given,
                                                         const oci::Reference& ref) {
  for (auto [scope, tag] : {std::pair{Scope::kLocal, std::string(given)},
                            std::pair{Scope::kLocal, ref.str()},
                            std::pair{Scope::kRegistry, ref.str()}}) {
    Result<StoredImage> found = store.find(scope, tag);
    if (found.ok()) {
      const std::vector<FsType>& types = found->result.lower_fs_types;
      // Built for another filesystem: build again (its layers are cached).
      if (!types.empty() && types.front() != options.fs_type) return std::optional<BuildResult>();
      // A blob deleted behind the store's back: pull again rather than hand it out.
      for (const std::string& path : found->result.lower_paths) {
        if (::access(path.c_str(), R_OK) != 0) return std::optional<BuildResult>();
      }
      return std::optional<BuildResult>(found->result);
    }
    if (found.error().kind() != ErrorKind::kImageNotFound) return std::move(found).error();
  }
  return std::optional<BuildResult>();
}

// The squash of the bottom diff_ids.size() layers. Their new blobs are committed
// (started) once their files are open, so that their fsyncs and checksums run
// while the squash is written.
Result<LayerRef> Builder::Impl::squash(Lease& lease, const std::vector<std::string>& diff_ids,
                                       builder::StoredLayers& layers) {
  std::string key = squashed_blob_key(diff_ids, FsType::kErofs);
  VMI_TRY(BlobWriter writer, lease.begin_blob(key, FsType::kErofs));
  if (writer.exists()) {
    layers.start();
    return writer.commit();
  }
  emit(BuildEvent::Kind::kSquashing, -1, key);
  std::vector<std::string> paths;
  for (size_t i = 0; i < diff_ids.size(); ++i) paths.push_back(layers.refs()[i].path);
  VMI_TRY(std::vector<builder::LayerFile> files, builder::open_layer_files(paths));
  layers.start();
  VMI_CHECK(builder::write_squashed(files, writer.fd(), writer.temp_path(),
                                    store.cache_root() + "/tmp"));
  return writer.commit();
}

// The runtime lowers (EROFS), once every layer blob is committed.
Result<std::vector<LayerRef>> Builder::Impl::runtime_lowers(
    Lease& lease, const std::vector<std::string>& diff_ids, builder::StoredLayers& layers) {
  size_t n = layers.refs().size();
  size_t squash_count = 0;  // bottom layers merged into one lower
  switch (options.layout.kind) {
    case Layout::Kind::kLayered: squash_count = 0; break;
    case Layout::Kind::kSquashed: squash_count = n; break;
    case Layout::Kind::kAuto:
      squash_count = n > options.layout.max_lowers ? n - options.layout.max_lowers + 1 : 0;
      break;
  }
  // One layer is its own squash: nothing lies below it to hide.
  if (squash_count <= 1) return layers.finish();
  std::vector<std::string> bottom_ids(diff_ids.begin(), diff_ids.begin() + squash_count);
  Result<LayerRef> squashed = squash(lease, bottom_ids, layers);
  // Wait for the layers' commits even when the squash failed.
  VMI_TRY(std::vector<LayerRef> canonical, layers.finish());
  if (!squashed) return std::move(squashed).error();
  std::vector<LayerRef> out{*squashed};
  out.insert(out.end(), canonical.begin() + squash_count, canonical.end());
  return out;
}

// The runtime lowers in the requested filesystem: an ext4 blob (same key) is
// written from each EROFS lower, copying its file data.
Result<std::vector<LayerRef>> Builder::Impl::as_fs_type(Lease& lease,
                                                        const std::vector<LayerRef>& lowers) {
  if (options.fs_type == FsType::kErofs) return lowers;
  std::vector<LayerRef> out;
  for (const LayerRef& lower : lowers) {
    VMI_TRY(BlobWriter writer, lease.begin_blob(lower.digest, FsType::kExt4));
    if (!writer.exists()) {
      std::string scratch = writer.temp_path() + ".ext4";
      VMI_CHECK(builder::erofs_to_ext4(lower.path, scratch, ext4::Ext4Options{}));
      VMI_CHECK(writer.replace_file(scratch));
    }
    VMI_TRY(LayerRef ref, writer.commit());
    out.push_back(ref);
  }
  return out;
}

Result<BuildResult> Builder::Impl::record(Scope scope, const std::string& tag,
                                          const ImageLayers& layers, const ImageMeta& meta) {
  VMI_CHECK(store.save(scope, tag, layers, meta));
  VMI_TRY(StoredImage stored, store.find(scope, tag));
  emit(BuildEvent::Kind::kSaved, -1, meta.digest);
  BuildResult result = stored.result;
  result.cached = false;
  return result;
}

Result<BuildResult> Builder::Impl::pull(const oci::Reference& ref) {
  VMI_TRY(registry::Client * c, registry_client());
  oci::Platform platform = oci::host_platform();
  if (!options.platform.empty()) {
    VMI_TRY(platform, oci::parse_platform(options.platform));
  }
  ProgressAdapter progress(options.events);
  VMI_TRY(registry::ResolvedImage image, c->resolve(ref, platform, &progress));
  if (image.config.diff_ids.size() != image.layers.size()) {
    return Error(ErrorKind::kPullImage, ref.str() + ": the config lists " +
                                            std::to_string(image.config.diff_ids.size()) +
                                            " DiffIDs for " + std::to_string(image.layers.size()) +
                                            " layers");
  }
  std::vector<std::string> diff_ids;
  for (const oci::Digest& d : image.config.diff_ids) diff_ids.push_back(d.str());

  VMI_CHECK(check_layer_count(ref.str(), diff_ids.size(), options.limits));
  VMI_TRY(Lease lease, store.begin_lease());
  builder::ImageBudget budget(options.limits);
  builder::LayerStoreOptions layer_options{options.jobs, options.events, &budget};
  auto open = [&](int i) { return c->open_layer(ref, image.layers[i], &progress, i); };
  VMI_TRY(std::unique_ptr<builder::StoredLayers> layers,
          builder::store_layers(store, lease, diff_ids, open, layer_options));
  VMI_TRY(std::vector<LayerRef> erofs_lowers, runtime_lowers(lease, diff_ids, *layers));
  VMI_TRY(std::vector<LayerRef> canonical, layers->finish());
  VMI_TRY(std::vector<LayerRef> runtime, as_fs_type(lease, erofs_lowers));

  ImageMeta meta;
  meta.tag = ref.str();
  meta.digest = image.digest.str();
  meta.size = total_size(runtime);
  meta.created_at = std::chrono::system_clock::now();
  meta.source = ImageSource::kRegistry;
  meta.oci = oci_config_of(image.config);
  VMI_TRY(BuildResult result, record(Scope::kRegistry, ref.str(), {canonical, runtime}, meta));
  VMI_CHECK(lease.release());
  return result;
}

Result<BuildResult> Builder::Impl::import_image(
    std::string_view tag, const ImportOptions& options,
    const std::function<Result<archive::ImportedImage>(archive::BlobHandler&,
                                                       const archive::ImportOptions&)>& walk) {
  if (!tag.empty()) {
    Result<oci::Reference> valid = oci::parse_reference(tag);
    if (!valid) return Error(ErrorKind::kUsage, "invalid image tag: " + valid.error().message());
  }
  archive::ImportOptions walk_options;
  walk_options.ref = options.ref;
  walk_options.max_blobs = static_cast<size_t>(this->options.limits.max_archive_blobs);
  // An archive's configs are documents like its manifests and indexes.
  walk_options.max_document_bytes = static_cast<size_t>(this->options.limits.max_manifest_bytes);
  if (!this->options.platform.empty()) {
    VMI_TRY(walk_options.platform, oci::parse_platform(this->options.platform));
  }
  VMI_TRY(Lease lease, store.begin_lease());
  builder::ImageBudget budget(this->options.limits);
  ImportHandler handler(store, lease, budget);
  VMI_TRY(archive::ImportedImage image, walk(handler, walk_options));
  std::string name = tag.empty() ? image.name : std::string(tag);
  if (name.empty()) {
    return Error(ErrorKind::kUsage,
                 image.names.empty()
                     ? "the archive names no image: give a tag"
                     : "the image has several names (" + join_some(image.names) + "): give a tag");
  }
  std::vector<std::string> diff_ids;
  for (const archive::LayerBlob& l : image.layers) diff_ids.push_back(l.diff_id);
  auto streamed = [&](int i) { return handler.layer(image.layers[i].handle); };
  auto no_open = [](int i) -> Result<std::unique_ptr<io::Reader>> {
    return Error(ErrorKind::kInternal, "layer " + std::to_string(i) + " was not streamed");
  };
  VMI_CHECK(check_layer_count(name, diff_ids.size(), this->options.limits));
  builder::LayerStoreOptions layer_options{this->options.jobs, this->options.events, &budget};
  VMI_TRY(std::unique_ptr<builder::StoredLayers> layers,
          builder::store_layers(store, lease, diff_ids, no_open, layer_options, streamed));
  VMI_TRY(std::vector<LayerRef> erofs_lowers, runtime_lowers(lease, diff_ids, *layers));
  VMI_TRY(std::vector<LayerRef> canonical, layers->finish());
  VMI_TRY(std::vector<LayerRef> runtime, as_fs_type(lease, erofs_lowers));

  ImageMeta meta;
  meta.tag = name;
  meta.digest = image.manifest_digest;
  meta.size = total_size(runtime);
  meta.created_at = std::chrono::system_clock::now();
  meta.source = ImageSource::kImport;
  meta.oci = oci_config_of(image.config);
  VMI_TRY(BuildResult result, record(Scope::kLocal, name, {canonical, runtime}, meta));
  VMI_CHECK(lease.release());
  return result;
}

Builder::Builder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Builder::Builder(Builder&&) noexcept = default;
Builder& Builder::operator=(Builder&&) noexcept = default;
Builder::~Builder() = default;

Result<Builder> Builder::create(BuildOptions options) {
  VMI_TRY(Store store, Store::open(options.cache_dir));
  auto impl = std::make_unique<Impl>(Impl{std::move(options), std::move(store), nullptr});
  return Builder(std::move(impl));
}

Result<BuildResult> Builder::build(std::string_view ref_text) {
  VMI_TRY(oci::Reference ref, oci::parse_reference(ref_text));
  if (!impl_->options.force_pull) {
    VMI_TRY(std::optional<BuildResult> hit, impl_->cached(ref_text, ref));
    if (hit) return *hit;
  }
  return impl_->pull(ref);
}

Result<BuildResult> Builder::import(io::Reader& archive_stream, std::string_view tag,
                                   const ImportOptions& options) {
  return impl_->import_image(tag, options, [&](archive::BlobHandler& h,
                                               const archive::ImportOptions& o) {
    return archive::import_archive(archive_stream, h, o);
  });
}

Result<BuildResult> Builder::import_dir(const std::string& dir, std::string_view tag,
                                       const ImportOptions& options) {
  return impl_->import_image(tag, options, [&](archive::BlobHandler& h,
                                               const archive::ImportOptions& o) {
    return archive::import_directory(dir, h, o);
  });
}

Status Builder::save_tag(std::string_view tag, const BuildResult& result) {
  ImageLayers layers{result.canonical_layers, result.layers};
  ImageMeta meta;
  meta.tag = std::string(tag);
  meta.digest = result.digest;
  meta.size = result.size;
  meta.created_at = std::chrono::system_clock::now();
  meta.source = ImageSource::kTag;
  meta.oci = result.oci;
  return impl_->store.save(Scope::kLocal, tag, layers, meta);
}

Store& Builder::store() { return impl_->store; }

}  // namespace vmimage
