// The public Store, Lease and BlobWriter (vmimage/store.h): thin forwarding
// to the operations in store_detail.
#include "vmimage/store.h"

#include <fcntl.h>

#include <cerrno>

#include "store/core.h"

namespace vmimage {

using store_detail::Core;

namespace {

Status check_writable(const Core& core) {
  if (!core.read_only()) return {};
  return Error(ErrorKind::kStoreSave, "the store at " + core.layout().root + " is read-only",
               EROFS);
}

}  // namespace

// ---- BlobWriter

BlobWriter::BlobWriter(std::unique_ptr<store_detail::WriterState> state)
    : state_(std::move(state)) {}
BlobWriter::BlobWriter(BlobWriter&&) noexcept = default;
BlobWriter& BlobWriter::operator=(BlobWriter&&) noexcept = default;
BlobWriter::~BlobWriter() = default;

bool BlobWriter::exists() const {
  return state_ && state_->existing.has_value();
}
int BlobWriter::fd() const {
  return state_ ? state_->fd.get() : -1;
}

const std::string& BlobWriter::temp_path() const {
  static const std::string kNone;
  return state_ ? state_->temp_path : kNone;
}

Result<LayerRef> BlobWriter::commit() {
  if (!state_) return Error(ErrorKind::kStoreSave, "commit of a finished blob writer");
  auto ref = store_detail::commit_blob(*state_);
  state_.reset();
  return ref;
}

void BlobWriter::set_verity(VerityInfo verity) {
  if (state_) state_->verity = std::move(verity);
}

void BlobWriter::set_pulled(std::string content_digest) {
  if (!state_) return;
  state_->origin = BlobOrigin::kPulled;
  state_->content_digest = std::move(content_digest);
}

Status BlobWriter::adopt(BlobWriter&& scratch) {
  if (!state_ || exists() || !state_->fd.valid() || !scratch.state_ || !scratch.state_->scratch ||
      !scratch.state_->fd.valid() || scratch.state_->lease != state_->lease) {
    return Error(ErrorKind::kStoreSave,
                 "adopt needs an unfinished keyed writer and a scratch blob of the same lease");
  }
  // Both files belong to the lease (tmp/<lease id>.*): gc keeps them either way.
  std::swap(state_->fd, scratch.state_->fd);
  std::swap(state_->temp_path, scratch.state_->temp_path);
  std::swap(state_->cleanup_slot, scratch.state_->cleanup_slot);
  scratch.state_.reset();  // removes this writer's own, empty, file
  return {};
}

// ---- Lease

Lease::Lease(std::shared_ptr<store_detail::LeaseState> state) : state_(std::move(state)) {}
Lease::Lease(Lease&&) noexcept = default;
Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    if (state_) (void)store_detail::release_lease(*state_);
    state_ = std::move(other.state_);
  }
  return *this;
}
Lease::~Lease() {
  if (state_) (void)store_detail::release_lease(*state_);
}

const std::string& Lease::id() const {
  static const std::string kNone;
  return state_ ? state_->id : kNone;
}

Result<BlobWriter> Lease::begin_blob(std::string_view digest, FsType fs_type) {
  if (!state_) return Error(ErrorKind::kStoreSave, "begin_blob on a moved-from lease");
  VMI_TRY(auto state, store_detail::begin_blob(state_, digest, fs_type));
  return BlobWriter(std::move(state));
}

Result<BlobWriter> Lease::begin_scratch_blob() {
  if (!state_) return Error(ErrorKind::kStoreSave, "begin_scratch_blob on a moved-from lease");
  VMI_TRY(auto state, store_detail::begin_scratch_blob(state_));
  return BlobWriter(std::move(state));
}

Result<LayerRef> Lease::ensure_blob(std::string_view digest, FsType fs_type,
                                    const BlobProducer& produce) {
  VMI_TRY(BlobWriter writer, begin_blob(digest, fs_type));
  if (writer.exists()) return writer.commit();
  Status produced = produce(writer.fd(), writer.temp_path());
  if (!produced.ok()) {
    Error e = std::move(produced).error();
    std::string what = "producing blob " + std::string(digest) + " in " + writer.temp_path();
    // Out of space or a read-only store is the store's failure, whoever hit it.
    int err = e.sys_errno();
    if (err == ENOSPC || err == EDQUOT || err == EROFS) {
      return Error(ErrorKind::kStoreSave, what + ": " + e.message(), err);
    }
    return std::move(e).context(what);
  }
  return writer.commit();
}

Status Lease::release() {
  if (!state_) return {};
  return store_detail::release_lease(*state_);
}

// ---- Store

Store::Store(std::shared_ptr<Core> core) : core_(std::move(core)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

Result<Store> Store::open(StoreOptions options) {
  VMI_TRY(auto core, Core::open(std::move(options)));
  return Store(std::move(core));
}

Result<Store> Store::open(std::string_view cache_dir) {
  StoreOptions options;
  options.cache_dir = std::string(cache_dir);
  return open(std::move(options));
}

const std::string& Store::cache_root() const {
  return core_->layout().root;
}

const std::string& Store::scratch_dir() const {
  return core_->layout().tmp;
}

Result<std::string> Store::blob_path(std::string_view digest, FsType fs_type) const {
  VMI_TRY(std::string name, store_detail::blob_file_name(digest, fs_type));
  return core_->layout().blob_path(name);
}

Result<bool> Store::has_blob(std::string_view digest, FsType fs_type) {
  return store_detail::has_blob(*core_, digest, fs_type);
}

Status Store::save(std::string_view tag, const ImageLayers& layers, const ImageMeta& meta) {
  return save(Scope::kLocal, tag, layers, meta);
}
Result<BuildResult> Store::get(std::string_view tag) {
  VMI_TRY(StoredImage image, find(Scope::kLocal, tag));
  return std::move(image.result);
}
Result<std::vector<ImageInfo>> Store::list() {
  return list(Scope::kLocal);
}
Result<GcStats> Store::remove(std::string_view tag) {
  return remove(Scope::kLocal, tag);
}

Status Store::save_registry_cache(std::string_view tag, const ImageLayers& layers,
                                  const ImageMeta& meta) {
  return save(Scope::kRegistry, tag, layers, meta);
}
Result<BuildResult> Store::get_registry_cache(std::string_view tag) {
  VMI_TRY(StoredImage image, find(Scope::kRegistry, tag));
  return std::move(image.result);
}
Result<std::vector<ImageInfo>> Store::list_registry_cache() {
  return list(Scope::kRegistry);
}
Result<GcStats> Store::remove_registry_cache(std::string_view tag) {
  return remove(Scope::kRegistry, tag);
}

Status Store::save(Scope scope, std::string_view tag, const ImageLayers& layers,
                   const ImageMeta& meta) {
  VMI_CHECK(check_writable(*core_));
  return store_detail::save_image(*core_, scope, tag, layers, meta);
}

Result<StoredImage> Store::find(Scope scope, std::string_view tag) {
  return store_detail::find_image(*core_, scope, tag);
}

Result<StoredImage> Store::resolve(std::string_view tag) {
  auto local = find(Scope::kLocal, tag);
  if (local.ok() || local.error().kind() != ErrorKind::kImageNotFound) return local;
  auto cached = find(Scope::kRegistry, tag);
  if (cached.ok() || cached.error().kind() != ErrorKind::kImageNotFound) return cached;
  return Error(ErrorKind::kImageNotFound, "no image tagged " + std::string(tag));
}

Result<std::vector<ImageInfo>> Store::list(Scope scope) {
  return store_detail::list_images(*core_, scope);
}

Result<GcStats> Store::remove(Scope scope, std::string_view tag) {
  VMI_CHECK(check_writable(*core_));
  VMI_TRY(auto blobs, store_detail::delete_image(*core_, scope, tag));
  return store_detail::prune_blobs(*core_, blobs);
}

Status Store::tag(std::string_view src, std::string_view dst) {
  VMI_CHECK(check_writable(*core_));
  VMI_TRY(auto replaced, store_detail::tag_image(*core_, src, dst));
  store_detail::prune_blobs(*core_, replaced);
  return {};
}

Result<Lease> Store::begin_lease() {
  VMI_CHECK(check_writable(*core_));
  VMI_TRY(auto state, store_detail::create_lease(core_));
  return Lease(std::move(state));
}

Result<GcStats> Store::gc() {
  VMI_CHECK(check_writable(*core_));
  return store_detail::collect_garbage(*core_);
}
Result<std::vector<BlobRecord>> Store::blobs() {
  return store_detail::list_blobs(*core_);
}
Result<std::optional<BlobRecord>> Store::find_blob(std::string_view digest, FsType fs_type) {
  return store_detail::find_blob(*core_, store_detail::BlobId{std::string(digest), fs_type});
}
Status Store::record_blob_location(std::string_view blob_digest, std::string_view repository) {
  VMI_CHECK(check_writable(*core_));
  return store_detail::record_blob_location(*core_, blob_digest, repository);
}
Result<std::vector<std::string>> Store::blob_locations(std::string_view blob_digest) {
  return store_detail::blob_locations(*core_, blob_digest);
}
Status Store::keep_upload(std::string_view repository, std::string_view blob,
                          std::string_view url) {
  VMI_CHECK(check_writable(*core_));
  return store_detail::keep_upload(*core_, repository, blob, url);
}
Result<std::string> Store::kept_upload(std::string_view repository, std::string_view blob) {
  return store_detail::kept_upload(*core_, repository, blob);
}
Result<bool> Store::default_verity() {
  VMI_TRY(std::optional<std::string> value, store_detail::setting(*core_, "default_verity"));
  return value && *value == "1";
}

Status Store::set_default_verity(bool verity) {
  return store_detail::set_setting(*core_, "default_verity", verity ? "1" : "0");
}

Status Store::set_content_digest(std::string_view digest, FsType fs_type,
                                 std::string_view content_digest) {
  VMI_CHECK(check_writable(*core_));
  return store_detail::set_content_digest(
      *core_, store_detail::BlobId{std::string(digest), fs_type}, content_digest);
}
Result<VerifyReport> Store::verify(std::span<const std::string> tags) {
  return store_detail::verify_blobs(*core_, tags);
}
Result<DiskUsage> Store::disk_usage() {
  return store_detail::disk_usage(*core_);
}

Result<GcStats> gc(std::string_view cache_dir) {
  VMI_TRY(Store store, Store::open(cache_dir));
  return store.gc();
}

Status save_registry_cache(std::string_view tag, std::string_view cache_dir,
                           const ImageLayers& layers, const ImageMeta& meta) {
  VMI_TRY(Store store, Store::open(cache_dir));
  return store.save_registry_cache(tag, layers, meta);
}

Result<BuildResult> get_registry_cache(std::string_view tag, std::string_view cache_dir) {
  VMI_TRY(Store store, Store::open(cache_dir));
  return store.get_registry_cache(tag);
}

Result<std::vector<ImageInfo>> list_registry_cache(std::string_view cache_dir) {
  VMI_TRY(Store store, Store::open(cache_dir));
  return store.list_registry_cache();
}

Result<GcStats> remove_registry_cache(std::string_view tag, std::string_view cache_dir) {
  VMI_TRY(Store store, Store::open(cache_dir));
  return store.remove_registry_cache(tag);
}

}  // namespace vmimage
