// Builder: one pipeline for pull and import. A LayerSource (the registry, or
// an archive that streamed its blobs as it went by) feeds store_layers; one
// tail then makes the runtime lowers the layout asks for, in the filesystem
// asked for, and records the image. Build() answers from the local scope, then
// the registry cache, then pulls.
#include "vmimage/builder.h"

#include <algorithm>
#include <mutex>

#include "builder/converted.h"
#include "builder/erofs_layers.h"
#include "builder/export.h"
#include "builder/layer_store.h"
#include "builder/push.h"
#include "builder/registry_options.h"
#include "builder/squash.h"
#include "builder/stored_platform.h"
#include "verity/tree.h"
#include "io/cancel.h"
#include "io/decompress.h"
#include "oci/platform.h"
#include "oci/reference.h"
#include "source/archive/archive.h"
#include "source/registry/client.h"
#include "util/text.h"

namespace vmimage {

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

uint64_t total_size(const std::vector<LayerRef>& layers) {
  uint64_t n = 0;
  for (const LayerRef& l : layers) n += l.size;
  return n;
}

Status check_layer_count(const std::string& image, size_t layers, const Limits& limits) {
  if (layers <= limits.max_layers) return {};
  return Error(ErrorKind::kPullImage,
               image + " has " + std::to_string(layers) + " layers, more than " +
                   std::to_string(limits.max_layers) + " (limit max-layers)");
}

// The caller's event callback, called by one thread at a time (layers convert
// on several).
class EventSink {
 public:
  explicit EventSink(BuildEvents events) : events_(std::move(events)) {}
  void operator()(const BuildEvent& e) {
    if (!events_) return;
    std::lock_guard<std::mutex> lock(mu_);
    events_(e);
  }
  BuildEvents as_callback() {
    return [this](const BuildEvent& e) { (*this)(e); };
  }

 private:
  BuildEvents events_;
  std::mutex mu_;
};

// Registry byte counts → build events.
class ProgressAdapter : public registry::ProgressSink {
 public:
  explicit ProgressAdapter(EventSink& events) : events_(events) {}
  void on_layer(const registry::LayerEvent& e) override {
    BuildEvent out;
    out.index = e.index;
    out.digest = e.digest.str();
    out.done = e.done;
    out.total = e.total;
    switch (e.kind) {
      case registry::LayerEvent::Kind::kResolved:
        out.kind = BuildEvent::Kind::kResolved;
        break;
      case registry::LayerEvent::Kind::kBytes:
        out.kind = BuildEvent::Kind::kBytes;
        break;
      default:
        return;  // converting and done come from the layer store
    }
    events_(out);
  }

 private:
  EventSink& events_;
};

// A registry image's layers, each opened and streamed when the store lacks it.
class RegistrySource : public builder::LayerSource {
 public:
  RegistrySource(Store& store, registry::Client& client, const registry::ResolvedImage& image,
                 registry::ProgressSink& progress, bool verity, io::CancelFlag cancel)
      : store_(store),
        client_(client),
        image_(image),
        progress_(progress),
        verity_(verity),
        cancel_(cancel) {}

  Result<std::shared_ptr<builder::StreamedLayer>> stream(int i, Lease& lease,
                                                         builder::ImageBudget& budget) override {
    VMI_TRY(auto layer, builder::start_layer(store_, lease, verity_));
    const registry::Layer& l = image_.layers[static_cast<size_t>(i)];
    VMI_TRY(auto tar, client_.open_layer(image_.reference, l, &progress_, i, cancel_));
    std::string name = "layer " + std::to_string(i) + " (" + l.diff_id.str() + ")";
    VMI_CHECK(layer->converter->stream(*tar, name, budget, l.diff_id.str(), cancel_));
    return layer;
  }

 private:
  Store& store_;
  registry::Client& client_;
  const registry::ResolvedImage& image_;
  registry::ProgressSink& progress_;
  bool verity_;
  io::CancelFlag cancel_;
};

// An archive's layer blobs, streamed as the archive goes by (before it is
// known which image, hence which layers, it holds), handed over by position.
class ArchiveSource : public archive::BlobHandler, public builder::LayerSource {
 public:
  ArchiveSource(Store& store, Lease& lease, builder::ImageBudget& budget, bool verity,
                io::CancelFlag cancel)
      : store_(store), lease_(lease), budget_(budget), verity_(verity), cancel_(cancel) {}

  Result<archive::ConvertedBlob> on_blob(const std::string& member, io::Reader& stream) override {
    VMI_TRY(auto layer, builder::start_layer(store_, lease_, verity_));
    // The converter reads `tar` ahead on other threads: `stream` is not touched
    // elsewhere until `tar` is gone.
    VMI_TRY(io::Decompressed tar,
            io::open_decompressed(std::make_unique<io::BorrowedReader>(stream), member));
    VMI_CHECK(layer->converter->stream(*tar.reader, member, budget_, std::nullopt, cancel_));
    streamed_.push_back(layer);
    return archive::ConvertedBlob{layer->converter->diff_id(), streamed_.size() - 1};
  }

  void set_image(const archive::ImportedImage& image) { image_ = &image; }

  Result<std::shared_ptr<builder::StreamedLayer>> stream(int i, Lease&,
                                                         builder::ImageBudget&) override {
    return streamed_.at(image_->layers.at(static_cast<size_t>(i)).handle);
  }

 private:
  Store& store_;
  Lease& lease_;
  builder::ImageBudget& budget_;
  bool verity_;
  io::CancelFlag cancel_;
  const archive::ImportedImage* image_ = nullptr;
  std::vector<std::shared_ptr<builder::StreamedLayer>> streamed_;
};

}  // namespace

struct VMIMAGE_LOCAL Builder::Impl {
  Impl(BuildOptions o, Store s)
      : options(std::move(o)), store(std::move(s)), events(options.events) {}

  BuildOptions options;
  Store store;
  bool verity = false;  // options.verity, else the store's default
  std::unique_ptr<registry::Client> client;
  EventSink events;

  Result<registry::Client*> registry_client();
  // The platform a pull asks for: options.platform, else the host's.
  Result<oci::Platform> wanted_platform() const;
  // The stored image a pull of `given` (parsed: `ref`) can return without
  // asking the registry: the first of the local tag, the local tag of the
  // normalized reference and the registry cache's entry that holds the
  // platform asked for, if it serves as it is.
  Result<std::optional<BuildResult>> cached(std::string_view given, const oci::Reference& ref);
  // Whether a stored image has the filesystem and verity trees asked for, whole.
  Result<bool> serves_as_is(const BuildResult& r);
  Result<BuildResult> pull(const oci::Reference& ref, io::CancelFlag cancel);
  // The layers of `layers_from` (EROFS-native), recorded as the image `image`.
  Result<BuildResult> pull_erofs(const oci::Reference& ref, const registry::ResolvedImage& image,
                                 const registry::ResolvedImage& layers_from, io::CancelFlag cancel);
  // A converted image of `image` in options.converted_repo, pulled; nullopt
  // when there is none.
  Result<std::optional<BuildResult>> pull_found_converted(const oci::Reference& ref,
                                                          const registry::ResolvedImage& image,
                                                          const oci::Reference& repo,
                                                          io::CancelFlag cancel);
  // The image just converted, pushed to `repo` for other hosts.
  Status publish(const oci::Reference& ref, const registry::ResolvedImage& image,
                 const oci::Reference& repo, io::CancelFlag cancel);
  Result<BuildResult> import_image(
      std::string_view tag, const ImportOptions& options, io::CancelFlag cancel,
      const std::function<Result<archive::ImportedImage>(archive::BlobHandler&,
                                                         const archive::ImportOptions&)>& walk);
  // Tar layers converted into the store, as store_layers does.
  Result<std::unique_ptr<builder::StoredLayers>> convert_layers(
      Lease& lease, builder::LayerSource& source, builder::ImageBudget& budget,
      const std::vector<std::string>& diff_ids);
  // The tail all share: runtime lowers made from the stored layers, the record.
  // `keys` name the layers' content (their DiffIDs, or the store keys of
  // pulled EROFS layers): the squash and ext4 blobs are keyed by them.
  Result<BuildResult> store_image(Lease& lease, std::unique_ptr<builder::StoredLayers> layers,
                                  const std::vector<std::string>& keys, ImageMeta meta, Scope scope,
                                  const std::vector<std::string>& tags, io::CancelFlag cancel);
  struct Lowers {
    std::vector<LayerRef> canonical;  // one per layer
    std::vector<LayerRef> runtime;    // what a VM stacks, per the layout
  };
  Result<Lowers> lowers_of(Lease& lease, const std::vector<std::string>& diff_ids,
                           builder::StoredLayers& layers);
  Result<std::vector<LayerRef>> as_fs_type(Lease& lease, const std::vector<LayerRef>& lowers,
                                           const std::vector<std::string>& diff_ids);
  Result<LayerRef> squash(Lease& lease, const std::vector<std::string>& diff_ids,
                          builder::StoredLayers& layers);
  void emit(BuildEvent::Kind kind, int index, std::string digest = {});
  // With options.verity: the tree of a blob written whole, read back once.
  Status add_verity(BlobWriter& writer);
};

Status Builder::Impl::add_verity(BlobWriter& writer) {
  if (!verity) return {};
  VMI_TRY(VerityInfo v, verity::append_tree_by_reading(writer.fd(), writer.temp_path(),
                                                       store.scratch_dir(),
                                                       builder::store_verity_salt()));
  writer.set_verity(std::move(v));
  return {};
}

void Builder::Impl::emit(BuildEvent::Kind kind, int index, std::string digest) {
  BuildEvent e;
  e.kind = kind;
  e.index = index;
  e.digest = std::move(digest);
  events(e);
}

Result<registry::Client*> Builder::Impl::registry_client() {
  if (!client) {
    VMI_TRY(client, registry::Client::create(builder::registry_options(options)));
  }
  return client.get();
}

Result<oci::Platform> Builder::Impl::wanted_platform() const {
  if (options.platform.empty()) return oci::host_platform();
  return oci::parse_platform(options.platform);
}

Result<std::optional<BuildResult>> Builder::Impl::cached(std::string_view given,
                                                         const oci::Reference& ref) {
  VMI_TRY(oci::Platform platform, wanted_platform());
  for (auto [scope, tag] :
       {std::pair{Scope::kLocal, std::string(given)}, std::pair{Scope::kLocal, ref.str()},
        std::pair{Scope::kRegistry, ref.str()}}) {
    Result<StoredImage> found = store.find(scope, tag);
    if (!found) {
      if (found.error().kind() != ErrorKind::kImageNotFound) return std::move(found).error();
      continue;
    }
    // Another platform of the source's index: not the image asked for. An
    // image imported or tagged here is served by its name whatever its
    // platform, unless a platform is asked for; then it is no reason to go
    // to whatever registry the name would mean.
    if (!options.platform.empty() || found->meta.source == ImageSource::kRegistry) {
      VMI_TRY(bool fits, builder::stored_platform_matches(found->meta, platform));
      if (!fits && found->meta.source != ImageSource::kRegistry) {
        VMI_TRY(std::optional<oci::Platform> own, builder::stored_platform(found->meta));
        return Error(ErrorKind::kImageNotFound,
                     tag + " is an image imported or tagged here for " +
                         (own ? own->str() : std::string("another platform")) + ", not " +
                         platform.str() + " (pull --force to fetch " + ref.str() +
                         " from its registry)");
      }
      if (!fits) continue;
    }
    VMI_TRY(bool usable, serves_as_is(found->result));
    if (!usable) return std::optional<BuildResult>();
    return std::optional<BuildResult>(found->result);
  }
  return std::optional<BuildResult>();
}

Result<bool> Builder::Impl::serves_as_is(const BuildResult& r) {
  // Built for another filesystem: build again (its layers are cached).
  if (!r.lower_fs_types.empty() && r.lower_fs_types.front() != options.fs_type) return false;
  // Asked for dm-verity trees: build again unless every lower has one.
  for (const LayerRef& layer : r.layers) {
    if (verity && !layer.verity) return false;
  }
  // A blob deleted behind the store's back: pull again rather than hand it out.
  for (const LayerRef& layer : r.layers) {
    VMI_TRY(bool whole, store.has_blob(layer.digest, layer.fs_type));
    if (!whole) return false;
  }
  return true;
}

// The squash of the bottom diff_ids.size() layers. Their new blobs are committed
// (started) once their files are open, so that their fsyncs and checksums run
// while the squash is written.
Result<LayerRef> Builder::Impl::squash(Lease& lease, const std::vector<std::string>& diff_ids,
                                       builder::StoredLayers& layers) {
  std::string key = squashed_blob_key(diff_ids, FsType::kErofs);
  if (verity) key = builder::verity_blob_key(key);
  VMI_TRY(BlobWriter writer, lease.begin_blob(key, FsType::kErofs));
  if (writer.exists()) {
    layers.start();
    return writer.commit();
  }
  emit(BuildEvent::Kind::kSquashing, -1, key);
  std::vector<std::string> paths;
  for (size_t i = 0; i < diff_ids.size(); ++i) paths.push_back(layers.refs()[i].path);
  auto started = [&] { layers.start(); };
  VMI_CHECK(builder::write_squashed(paths, writer.fd(), writer.temp_path(), store.scratch_dir(),
                                    PageCache::kKeep, started));
  VMI_CHECK(add_verity(writer));
  return writer.commit();
}

// The layers committed, and the runtime lowers (EROFS) the layout asks for.
Result<Builder::Impl::Lowers> Builder::Impl::lowers_of(Lease& lease,
                                                       const std::vector<std::string>& diff_ids,
                                                       builder::StoredLayers& layers) {
  size_t n = layers.refs().size();
  size_t squash_count = 0;  // bottom layers merged into one lower
  switch (options.layout.kind) {
    case LowerLayout::Kind::kLayered:
      squash_count = 0;
      break;
    case LowerLayout::Kind::kSquashed:
      squash_count = n;
      break;
    case LowerLayout::Kind::kAuto:
      squash_count = n > options.layout.max_lowers ? n - options.layout.max_lowers + 1 : 0;
      break;
  }
  // One layer is its own squash: nothing lies below it to hide.
  if (squash_count <= 1) {
    VMI_TRY(std::vector<LayerRef> canonical, layers.finish());
    return Lowers{canonical, canonical};
  }
  std::vector<std::string> bottom_ids(diff_ids.begin(), diff_ids.begin() + squash_count);
  Result<LayerRef> squashed = squash(lease, bottom_ids, layers);
  // Wait for the layers' commits even when the squash failed.
  VMI_TRY(std::vector<LayerRef> canonical, layers.finish());
  if (!squashed) return std::move(squashed).error();
  std::vector<LayerRef> runtime{*squashed};
  runtime.insert(runtime.end(), canonical.begin() + squash_count, canonical.end());
  return Lowers{canonical, runtime};
}

// The runtime lowers in the requested filesystem: each ext4 blob (same key) is
// written from its EROFS lower, with the bytes `mkfs --type ext4` gives.
Result<std::vector<LayerRef>> Builder::Impl::as_fs_type(Lease& lease,
                                                        const std::vector<LayerRef>& lowers,
                                                        const std::vector<std::string>& diff_ids) {
  if (options.fs_type == FsType::kErofs) return lowers;
  std::vector<LayerRef> out;
  size_t first_layer = diff_ids.size() - lowers.size();  // lowers[0] may be a squash
  for (size_t i = 0; i < lowers.size(); ++i) {
    const LayerRef& lower = lowers[i];
    VMI_TRY(BlobWriter writer, lease.begin_blob(lower.digest, FsType::kExt4));
    if (!writer.exists()) {
      bool squash = i == 0 && first_layer > 0;
      const std::string& content = squash ? lower.digest : diff_ids[first_layer + i];
      VMI_CHECK(builder::ext4_twin(lower.path, content, writer.fd(), writer.temp_path()));
      VMI_CHECK(add_verity(writer));
    }
    VMI_TRY(LayerRef ref, writer.commit());
    out.push_back(ref);
  }
  return out;
}

Result<std::unique_ptr<builder::StoredLayers>> Builder::Impl::convert_layers(
    Lease& lease, builder::LayerSource& source, builder::ImageBudget& budget,
    const std::vector<std::string>& diff_ids) {
  builder::LayerStoreOptions layer_options{options.jobs, events.as_callback(), verity};
  return builder::store_layers(store, lease, diff_ids, source, budget, layer_options);
}

Result<BuildResult> Builder::Impl::store_image(Lease& lease,
                                               std::unique_ptr<builder::StoredLayers> layers,
                                               const std::vector<std::string>& keys, ImageMeta meta,
                                               Scope scope, const std::vector<std::string>& tags,
                                               io::CancelFlag cancel) {
  VMI_CHECK(io::check_cancel(cancel));
  VMI_TRY(Lowers lowers, lowers_of(lease, keys, *layers));
  VMI_CHECK(io::check_cancel(cancel));
  VMI_TRY(std::vector<LayerRef> runtime, as_fs_type(lease, lowers.runtime, keys));
  const std::vector<LayerRef>& canonical = lowers.canonical;
  VMI_CHECK(io::check_cancel(cancel));
  meta.size = total_size(runtime);
  meta.created_at = std::chrono::system_clock::now();
  for (const std::string& tag : tags) {
    meta.tag = tag;
    VMI_CHECK(store.save(scope, tag, {canonical, runtime}, meta));
  }
  VMI_TRY(StoredImage stored, store.find(scope, tags.front()));
  emit(BuildEvent::Kind::kSaved, -1, meta.digest);
  VMI_CHECK(lease.release());
  BuildResult result = stored.result;
  result.cached = false;
  return result;
}

namespace {

ImageMeta registry_meta(const registry::ResolvedImage& image) {
  ImageMeta meta;
  meta.digest = image.digest.str();
  meta.source = ImageSource::kRegistry;
  meta.oci = oci_config_of(image.config);
  meta.config = image.config_bytes;
  if (image.index_digest) {
    meta.index_digest = image.index_digest->str();
    meta.platform = image.platform.str();
  }
  return meta;
}

// The converted image's layout that serves a pull's layout: the squashed
// lower is one EROFS layer; any other layout stacks the per-layer ones.
std::string_view converted_layout(const LowerLayout& layout) {
  return layout.kind == LowerLayout::Kind::kSquashed ? "squashed" : "layered";
}

}  // namespace

Result<BuildResult> Builder::Impl::pull(const oci::Reference& ref, io::CancelFlag cancel) {
  VMI_TRY(registry::Client * c, registry_client());
  VMI_TRY(oci::Platform platform, wanted_platform());
  ProgressAdapter progress(events);
  VMI_TRY(registry::ResolvedImage image, c->resolve(ref, platform, &progress, cancel));
  bool erofs =
      !image.layers.empty() && image.layers.front().type.format == oci::LayerFormat::kErofs;
  if (erofs) return pull_erofs(ref, image, image, cancel);

  std::optional<oci::Reference> repo;
  if (!options.converted_repo.empty()) {
    auto parsed = oci::parse_reference(options.converted_repo);
    if (!parsed) {
      return Error(ErrorKind::kUsage, "--converted-repo: " + parsed.error().message());
    }
    repo = *parsed;
    VMI_TRY(std::optional<BuildResult> found, pull_found_converted(ref, image, *repo, cancel));
    if (found) return *found;
  }
  std::vector<std::string> diff_ids;
  for (const oci::Digest& d : image.config.diff_ids) diff_ids.push_back(d.str());
  VMI_CHECK(check_layer_count(ref.str(), diff_ids.size(), options.limits));
  VMI_TRY(Lease lease, store.begin_lease());
  builder::ImageBudget budget(options.limits);
  RegistrySource source(store, *c, image, progress, verity, cancel);
  VMI_TRY(auto layers, convert_layers(lease, source, budget, diff_ids));
  VMI_TRY(BuildResult result, store_image(lease, std::move(layers), diff_ids, registry_meta(image),
                                          Scope::kRegistry, {ref.str()}, cancel));
  if (repo && options.publish_converted) VMI_CHECK(publish(ref, image, *repo, cancel));
  return result;
}

Result<BuildResult> Builder::Impl::pull_erofs(const oci::Reference& ref,
                                              const registry::ResolvedImage& image,
                                              const registry::ResolvedImage& layers_from,
                                              io::CancelFlag cancel) {
  VMI_TRY(registry::Client * c, registry_client());
  std::vector<std::string> diff_ids;
  for (const registry::Layer& l : layers_from.layers) diff_ids.push_back(l.diff_id.str());
  VMI_CHECK(check_layer_count(ref.str(), diff_ids.size(), options.limits));
  VMI_TRY(Lease lease, store.begin_lease());
  builder::ImageBudget budget(options.limits);
  ProgressAdapter progress(events);
  auto open = [&](int i) {
    return c->open_layer(layers_from.reference, layers_from.layers[static_cast<size_t>(i)],
                         &progress, i, cancel);
  };
  builder::LayerStoreOptions layer_options{options.jobs, events.as_callback(), verity};
  std::vector<std::optional<VerityInfo>> trees;
  for (const registry::Layer& l : layers_from.layers) {
    VMI_TRY(auto tree, builder::published_verity(l.descriptor));
    trees.push_back(std::move(tree));
  }
  VMI_TRY(auto layers, builder::store_erofs_layers(lease, diff_ids, trees, store.scratch_dir(),
                                                   open, budget, layer_options));
  std::vector<std::string> keys;
  for (const LayerRef& layer : layers->refs()) keys.push_back(layer.digest);
  VMI_TRY(BuildResult result, store_image(lease, std::move(layers), keys, registry_meta(image),
                                          Scope::kRegistry, {ref.str()}, cancel));
  // Where a push to another repository of this registry can mount them from.
  for (const registry::Layer& l : layers_from.layers) {
    VMI_CHECK(store.record_blob_location(l.descriptor.digest.str(), layers_from.reference.name()));
  }
  return result;
}

Result<std::optional<BuildResult>> Builder::Impl::pull_found_converted(
    const oci::Reference& ref, const registry::ResolvedImage& image, const oci::Reference& repo,
    io::CancelFlag cancel) {
  VMI_TRY(registry::Client * c, registry_client());
  std::string_view layout = converted_layout(options.layout);
  VMI_TRY(std::optional<oci::Digest> found,
          builder::find_converted(*c, repo, image.digest, layout, verity, cancel));
  if (!found && layout == "squashed") {
    // The layered form serves too: the squash is made here, without converting.
    VMI_TRY(found,
            builder::find_converted(*c, repo, image.digest, "layered", verity, cancel));
  }
  if (!found) return std::optional<BuildResult>();
  emit(BuildEvent::Kind::kFoundConverted, -1, found->str());
  oci::Reference converted_ref = repo;
  converted_ref.tag.clear();
  converted_ref.digest = *found;
  ProgressAdapter progress(events);
  VMI_TRY(registry::ResolvedImage converted,
          c->resolve(converted_ref, image.platform, &progress, cancel));
  if (converted.layers.empty() ||
      converted.layers.front().type.format != oci::LayerFormat::kErofs) {
    return Error(ErrorKind::kPullImage, converted_ref.str() +
                                            " is listed as a converted image of " +
                                            image.digest.str() + " but its layers are not EROFS");
  }
  VMI_TRY(BuildResult result, pull_erofs(ref, image, converted, cancel));
  return std::optional<BuildResult>(std::move(result));
}

Status Builder::Impl::publish(const oci::Reference& ref, const registry::ResolvedImage& image,
                              const oci::Reference& repo, io::CancelFlag cancel) {
  VMI_TRY(registry::Client * c, registry_client());
  VMI_TRY(StoredImage stored, store.find(Scope::kRegistry, ref.str()));
  builder::PushOptions push;
  push.jobs = std::clamp(options.jobs, 1, builder::kMaxPushJobs);
  push.layout = converted_layout(options.layout) == "squashed" ? builder::PushLayout::kSquashed
                                                               : builder::PushLayout::kLayered;
  // The squashed lower is in the record only as the one EROFS runtime lower.
  if (stored.result.layers.size() != 1 || options.fs_type != FsType::kErofs) {
    push.layout = builder::PushLayout::kLayered;
  }
  oci::Descriptor subject;
  subject.media_type = image.manifest_media_type;
  subject.digest = image.digest;
  subject.size = static_cast<int64_t>(image.manifest_bytes.size());
  push.subject = subject;
  push.by_digest = true;
  auto pushed = builder::push_image(store, stored, ref.str(), *c, repo, push, cancel);
  if (!pushed) return std::move(pushed).error().context("publishing the converted image");
  VMI_CHECK(builder::register_converted(*c, repo, image.digest, *pushed, cancel));
  emit(BuildEvent::Kind::kPublished, -1, pushed->reference);
  return {};
}

Result<BuildResult> Builder::Impl::import_image(
    std::string_view tag, const ImportOptions& options, io::CancelFlag cancel,
    const std::function<Result<archive::ImportedImage>(archive::BlobHandler&,
                                                       const archive::ImportOptions&)>& walk) {
  if (!tag.empty()) {
    Result<oci::Reference> valid = oci::parse_reference(tag);
    if (!valid) return Error(ErrorKind::kUsage, "invalid image tag: " + valid.error().message());
  }
  archive::ImportOptions walk_options;
  walk_options.ref = options.ref;
  walk_options.max_blobs = static_cast<size_t>(this->options.limits.max_archive_blobs);
  walk_options.max_trailing_bytes = this->options.limits.max_trailing_bytes;
  // An archive's configs are documents like its manifests and indexes.
  walk_options.max_document_bytes = static_cast<size_t>(this->options.limits.max_manifest_bytes);
  if (!this->options.platform.empty()) {
    VMI_TRY(walk_options.platform, oci::parse_platform(this->options.platform));
  }
  VMI_TRY(Lease lease, store.begin_lease());
  builder::ImageBudget budget(this->options.limits);
  ArchiveSource source(store, lease, budget, verity, cancel);
  VMI_TRY(archive::ImportedImage image, walk(source, walk_options));
  source.set_image(image);
  // No tag: every name the archive gives the image, as `docker load` does.
  std::vector<std::string> tags;
  if (!tag.empty()) {
    tags.emplace_back(tag);
  } else if (!image.name.empty()) {
    tags.push_back(image.name);
  } else {
    tags = image.names;
  }
  if (tags.empty()) return Error(ErrorKind::kUsage, "the archive names no image: give a tag");
  std::vector<std::string> diff_ids;
  for (const archive::LayerBlob& l : image.layers) diff_ids.push_back(l.diff_id);
  VMI_CHECK(check_layer_count(tags.front(), diff_ids.size(), this->options.limits));
  ImageMeta meta;
  meta.digest = image.manifest_digest;
  meta.source = ImageSource::kImport;
  meta.oci = oci_config_of(image.config);
  meta.config = image.config_raw;
  VMI_TRY(auto layers, convert_layers(lease, source, budget, diff_ids));
  return store_image(lease, std::move(layers), diff_ids, meta, Scope::kLocal, tags, cancel);
}

Builder::Builder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Builder::Builder(Builder&&) noexcept = default;
Builder& Builder::operator=(Builder&&) noexcept = default;
Builder::~Builder() = default;

Result<Builder> Builder::create(BuildOptions options) {
  VMI_TRY(Store store, Store::open(options.cache_dir));
  bool verity = false;
  if (options.verity) {
    verity = *options.verity;
  } else {
    VMI_TRY(verity, store.default_verity());
  }
  auto impl = std::make_unique<Impl>(std::move(options), std::move(store));
  impl->verity = verity;
  return Builder(std::move(impl));
}

Result<BuildResult> Builder::build(std::string_view ref_text, const CancelToken& cancel) {
  VMI_TRY(oci::Reference ref, oci::parse_reference(ref_text));
  if (!impl_->options.force_pull) {
    VMI_TRY(std::optional<BuildResult> hit, impl_->cached(ref_text, ref));
    if (hit) return *hit;
  }
  return impl_->pull(ref, cancel.flag());
}

namespace {

// A ReadFunction as a reader the pipeline takes.
class FunctionReader : public io::Reader {
 public:
  explicit FunctionReader(const ReadFunction& read) : read_(read) {}
  Result<size_t> read(std::span<std::byte> buf) override { return read_(buf); }

 private:
  const ReadFunction& read_;
};

}  // namespace

Result<BuildResult> Builder::import(const ReadFunction& read, std::string_view tag,
                                    const ImportOptions& options, const CancelToken& cancel) {
  FunctionReader reader(read);
  io::CancellableReader input(reader, cancel.flag());
  return impl_->import_image(tag, options, cancel.flag(),
                             [&](archive::BlobHandler& h, const archive::ImportOptions& o) {
                               return archive::import_archive(input, h, o);
                             });
}

Result<BuildResult> Builder::import_fd(int fd, std::string_view tag, const ImportOptions& options,
                                       const CancelToken& cancel) {
  io::FdReader reader(fd, "the archive");
  reader.set_cancel(cancel.flag());
  return import([&](std::span<std::byte> buf) { return reader.read(buf); }, tag, options, cancel);
}

Result<BuildResult> Builder::import_dir(const std::string& dir, std::string_view tag,
                                        const ImportOptions& options, const CancelToken& cancel) {
  return impl_->import_image(tag, options, cancel.flag(),
                             [&](archive::BlobHandler& h, const archive::ImportOptions& o) {
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

Store& Builder::store() {
  return impl_->store;
}

}  // namespace vmimage
