// The store's shared internals: the layout, the SQLite connection (one per Store,
// used under a mutex so the Builder's threads can share a Store) and the
// operations behind the public Store, Lease and BlobWriter classes.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/layout.h"
#include "store/lock.h"
#include "store/sqlite.h"
#include "vmimage/store.h"

namespace vmimage::store_detail {

class Core {
 public:
  static Result<std::shared_ptr<Core>> open(StoreOptions options);

  const StorePaths& layout() const { return layout_; }
  bool read_only() const { return read_only_; }
  void step(StoreStep point) const {
    if (on_step_) on_step_(point);
  }
  // The connection, for the duration of one operation; hold the lock while using it.
  std::unique_lock<std::mutex> lock_db() { return std::unique_lock<std::mutex>(mu_); }
  Db& db() { return db_; }

 private:
  Core(StorePaths layout, Db db, bool read_only, std::function<void(StoreStep)> on_step)
      : layout_(std::move(layout)),
        db_(std::move(db)),
        read_only_(read_only),
        on_step_(std::move(on_step)) {}

  StorePaths layout_;
  std::mutex mu_;
  Db db_;
  bool read_only_;
  std::function<void(StoreStep)> on_step_;
};

struct LeaseState {
  std::shared_ptr<Core> core;
  std::string id;
  FileLock lock;
  bool released = false;
};

struct WriterState {
  std::shared_ptr<Core> core;
  std::shared_ptr<LeaseState> lease;
  BlobId id;
  std::string file_name;
  FileLock lock;
  UniqueFd fd;
  std::string temp_path;
  std::optional<LayerRef> existing;
  bool scratch = false;   // no key yet: only adopted, never committed itself
  BlobOrigin origin = BlobOrigin::kConverted;
  std::string content_digest;  // the file's sha256 when known
  std::optional<VerityInfo> verity;  // the tree the file ends with
  int cleanup_slot = -1;  // temp_path, removed if a signal ends the process
  ~WriterState();  // removes an uncommitted temp file
};

int64_t now_ns();

// gc.cc: store-wide settings (the `settings` table, schema 7).
Result<std::optional<std::string>> setting(Core& core, std::string_view name);
Status set_setting(Core& core, std::string_view name, std::string_view value);

// The verity columns of a blob row, first at column `first` (root hash, salt,
// data size, hash offset); none when the root hash is ''.
std::optional<VerityInfo> verity_columns(const Statement& stmt, int first);
constexpr const char* kVerityColumns =
    "b.verity_root_hash, b.verity_salt, b.verity_data_size, b.verity_hash_offset";

// images.cc
Status save_image(Core& core, Scope scope, std::string_view tag, const ImageLayers& layers,
                  const ImageMeta& meta);
Result<StoredImage> find_image(Core& core, Scope scope, std::string_view tag);
Result<std::vector<ImageInfo>> list_images(Core& core, Scope scope);
// Deletes the entry; returns the blobs it referenced (candidates for pruning).
Result<std::vector<BlobId>> delete_image(Core& core, Scope scope, std::string_view tag);
Result<std::vector<BlobId>> tag_image(Core& core, std::string_view src, std::string_view dst);

// blobs.cc
Result<std::shared_ptr<LeaseState>> create_lease(const std::shared_ptr<Core>& core);
Status release_lease(LeaseState& lease);
Result<std::unique_ptr<WriterState>> begin_blob(const std::shared_ptr<LeaseState>& lease,
                                                std::string_view digest, FsType fs_type);
Result<std::unique_ptr<WriterState>> begin_scratch_blob(const std::shared_ptr<LeaseState>& lease);
Result<LayerRef> commit_blob(WriterState& writer);
Result<bool> has_blob(Core& core, std::string_view digest, FsType fs_type);

// gc.cc
// Removes each blob that no image and no live lease references (and whose
// lock is free); the rest stay. Errors on single blobs are skipped, not fatal.
GcStats prune_blobs(Core& core, const std::vector<BlobId>& candidates);
Result<GcStats> collect_garbage(Core& core);
Result<std::vector<BlobRecord>> list_blobs(Core& core);
Result<std::optional<BlobRecord>> find_blob(Core& core, const BlobId& id);
Status set_content_digest(Core& core, const BlobId& id, std::string_view content_digest);
Status record_blob_location(Core& core, std::string_view blob_digest,
                            std::string_view repository);
Result<std::vector<std::string>> blob_locations(Core& core, std::string_view blob_digest);
Status keep_upload(Core& core, std::string_view repository, std::string_view blob,
                   std::string_view url);
Result<std::string> kept_upload(Core& core, std::string_view repository, std::string_view blob);
Result<VerifyReport> verify_blobs(Core& core, std::span<const std::string> tags);
Result<DiskUsage> disk_usage(Core& core);

}  // namespace vmimage::store_detail
