// The image store: content-addressed blobs under <cache root>/blobs and SQLite
// metadata (images per scope, their ordered layers, blob hashes). Any number of
// processes may use one store at once; docs/store.md describes the write
// protocol, the leases that keep gc away from blobs not yet saved, and crash safety.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vmimage/export.h"
#include "vmimage/result.h"
#include "vmimage/types.h"

namespace vmimage {

namespace store_detail {
class Core;
struct LeaseState;
struct WriterState;
}  // namespace store_detail

// --cache-dir DIR > $VMIMAGE_CACHE_DIR > $XDG_CACHE_HOME/vmimage > ~/.cache/vmimage.
VMIMAGE_API Result<std::string> resolve_cache_root(std::string_view explicit_dir);

// The key of a squashed blob: a sha256 over the fs type and the ordered DiffIDs
// of the layers it squashes, so the same chain always finds the same blob.
VMIMAGE_API std::string squashed_blob_key(std::span<const std::string> diff_ids, FsType fs_type);

// The blobs an image is made of. Only digest and fs_type are read; the store
// fills in size and path. Every blob must already be in the store.
struct ImageLayers {
  std::vector<LayerRef> canonical;  // one per OCI layer, base → top
  std::vector<LayerRef> runtime;    // the lowers a VM mounts, base → top; empty: canonical
};

// An image as recorded, with the lowers it resolves to (result.cached is true).
struct StoredImage {
  Scope scope = Scope::kLocal;
  ImageMeta meta;
  BuildResult result;
};

struct GcStats {
  uint64_t blobs_removed = 0;
  uint64_t bytes_removed = 0;  // blobs and temp files
  uint64_t temp_files_removed = 0;
  uint64_t leases_reaped = 0;  // leases of processes that died
};

// Where a blob's bytes came from.
enum class BlobOrigin {
  kConverted,  // made here: converted from a tar layer, or written from other blobs
  kPulled,     // an EROFS layer stored exactly as a registry served it
};
std::string_view blob_origin_name(BlobOrigin origin);  // "converted" | "pulled"

struct BlobRecord {
  LayerRef blob;
  std::string file_checksum;  // of the file's bytes: "xxh3-128:<hex>" (or "sha256:<hex>")
  uint64_t refcount = 0;      // images (of either scope) that reference it
  BlobOrigin origin = BlobOrigin::kConverted;
  std::string content_digest;  // "sha256:<hex>" of the file when known (pulled, or pushed once)
};

struct BlobProblem {
  enum class Kind { kMissing, kCorrupt };
  Kind kind = Kind::kMissing;
  BlobRecord record;
  std::string detail;  // what differs
};

struct VerifyReport {
  uint64_t blobs_checked = 0;
  uint64_t bytes_checked = 0;
  std::vector<BlobProblem> problems;
};

struct ImageUsage {
  Scope scope = Scope::kLocal;
  std::string tag;
  uint64_t unique_bytes = 0;  // blobs only this image references
  uint64_t shared_bytes = 0;  // blobs other images reference too
};

struct DiskUsage {
  uint64_t blobs = 0;
  uint64_t bytes = 0;
  uint64_t shared_bytes = 0;        // blobs referenced by two or more images
  uint64_t unreferenced_bytes = 0;  // blobs no image references (leased or garbage)
  std::vector<ImageUsage> images;
};

// Points of the write protocol, reported to StoreOptions::on_step. Tests stop
// a process there and kill it to prove that a crash at that point is harmless.
enum class StoreStep { kBlobWritten, kBlobRenamed, kSaveInTransaction };

struct StoreOptions {
  std::string cache_dir;  // empty: resolve_cache_root("")
  std::function<void(StoreStep)> on_step;
};

// Writes a blob's complete contents to `fd` (a new, empty file, also reachable
// as temp_path for libraries that open by name). It may pwrite at any offset.
using BlobProducer = std::function<Status(int fd, const std::string& temp_path)>;

// A blob being produced: holds the blob's lock, so another process asking for
// the same blob waits and then finds it. Destroyed uncommitted, it removes its
// temp file. Hold one at a time per thread (or take them in a fixed order).
class VMIMAGE_API BlobWriter {
 public:
  BlobWriter(BlobWriter&&) noexcept;
  BlobWriter& operator=(BlobWriter&&) noexcept;
  ~BlobWriter();

  // True when the blob is already in the store: write nothing, commit() returns it.
  bool exists() const;
  int fd() const;
  const std::string& temp_path() const;
  // Syncs and hashes the file, renames it into blobs/, records it under the
  // lease and unlocks. Afterwards the writer is empty. A scratch blob has no
  // key: it cannot be committed, only adopted.
  Result<LayerRef> commit();
  // Takes over the file written through `scratch` (a scratch blob of the same
  // lease) in place of this writer's own, and ends `scratch`; commit() then
  // records it under this writer's key. Lets a producer learn the key only once
  // the blob is written (a layer's key depends on what it holds).
  Status adopt(BlobWriter&& scratch);
  // Records, on commit, that the blob is a pulled EROFS layer whose bytes
  // have this sha256 (verified as they streamed).
  void set_pulled(std::string content_digest);
  // Records, on commit, the dm-verity tree the file ends with.
  void set_verity(VerityInfo verity);

 private:
  friend class Lease;
  explicit BlobWriter(std::unique_ptr<store_detail::WriterState> state);
  std::unique_ptr<store_detail::WriterState> state_;
};

// Keeps gc from removing the blobs a process produces or reuses until the image
// that references them is saved. A lease is alive while its process holds the
// lease's lock file; gc reaps the leases of dead processes.
class VMIMAGE_API Lease {
 public:
  Lease(Lease&&) noexcept;
  Lease& operator=(Lease&&) noexcept;
  ~Lease();  // release(), ignoring errors

  const std::string& id() const;
  // Returns the blob if the store has it (and leases it); otherwise locks it,
  // and another process asking for it waits until it is committed.
  Result<BlobWriter> begin_blob(std::string_view digest, FsType fs_type);
  // A blob whose key is not known yet: a new file in the store, owned by this
  // lease, for a keyed writer to adopt() once it is.
  Result<BlobWriter> begin_scratch_blob();
  // begin_blob + produce + commit: a blob is produced once however many
  // processes ask for it at the same time.
  Result<LayerRef> ensure_blob(std::string_view digest, FsType fs_type,
                               const BlobProducer& produce);
  // Ends the lease; its blobs stay only if an image references them.
  Status release();

 private:
  friend class Store;
  explicit Lease(std::shared_ptr<store_detail::LeaseState> state);
  std::shared_ptr<store_detail::LeaseState> state_;
};

class VMIMAGE_API Store {
 public:
  static Result<Store> open(StoreOptions options = {});
  static Result<Store> open(std::string_view cache_dir);
  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  ~Store();

  const std::string& cache_root() const;
  // Where anonymous scratch files (O_TMPFILE spools) of store work go: the
  // store's filesystem, so their space is the store's.
  const std::string& scratch_dir() const;
  Result<std::string> blob_path(std::string_view digest, FsType fs_type = FsType::kErofs) const;
  // Whether the store has the blob, recorded and whole (no lock is taken: use a
  // Lease's begin_blob to keep it).
  Result<bool> has_blob(std::string_view digest, FsType fs_type = FsType::kErofs);

  // Local scope: the images a user tagged or imported.
  Status save(std::string_view tag, const ImageLayers& layers, const ImageMeta& meta);
  Result<BuildResult> get(std::string_view tag);
  Result<std::vector<ImageInfo>> list();
  Result<GcStats> remove(std::string_view tag);  // prunes blobs left unreferenced

  // Registry scope: the cache of registry pulls.
  Status save_registry_cache(std::string_view tag, const ImageLayers& layers,
                             const ImageMeta& meta);
  Result<BuildResult> get_registry_cache(std::string_view tag);
  Result<std::vector<ImageInfo>> list_registry_cache();
  Result<GcStats> remove_registry_cache(std::string_view tag);

  // Either scope. Saving an existing tag replaces it atomically.
  Status save(Scope scope, std::string_view tag, const ImageLayers& layers, const ImageMeta& meta);
  Result<StoredImage> find(Scope scope, std::string_view tag);
  Result<StoredImage> resolve(std::string_view tag);  // local first, then the registry cache
  Result<std::vector<ImageInfo>> list(Scope scope);
  Result<GcStats> remove(Scope scope, std::string_view tag);
  // A local tag `dst` for the image `src` resolves to (same layers, source: tag).
  Status tag(std::string_view src, std::string_view dst);

  Result<Lease> begin_lease();
  // Removes unreferenced blobs (not leased by a live process), temp files and
  // lock files left by crashed processes, and dead leases.
  Result<GcStats> gc();
  Result<std::vector<BlobRecord>> blobs();
  // One blob's record, if the store has it.
  Result<std::optional<BlobRecord>> find_blob(std::string_view digest, FsType fs_type);
  // Records the sha256 of a blob's file once someone has hashed it (push does).
  Status set_content_digest(std::string_view digest, FsType fs_type,
                            std::string_view content_digest);
  // Registry repositories ("host/path") known to hold the registry blob of
  // this digest (pulled from, pushed to), most recent first: where a push can
  // mount it from.
  Status record_blob_location(std::string_view blob_digest, std::string_view repository);
  Result<std::vector<std::string>> blob_locations(std::string_view blob_digest);
  // A blob upload into `repository` that a push left part way, where the next
  // push of the same bytes (`blob`: their digest, or what names them in the
  // store) goes on: the session's URL. keep_upload with an empty url forgets
  // it; kept_upload gives "" when there is none. gc forgets sessions older
  // than a week.
  Status keep_upload(std::string_view repository, std::string_view blob, std::string_view url);
  Result<std::string> kept_upload(std::string_view repository, std::string_view blob);
  // Re-hashes the blobs of `tags` (every blob when empty) against the recorded hashes.
  Result<VerifyReport> verify(std::span<const std::string> tags = {});
  // Whether builds into this store give blobs dm-verity trees when their
  // options do not say (false until set).
  Result<bool> default_verity();
  Status set_default_verity(bool verity);
  Result<DiskUsage> disk_usage();

 private:
  explicit Store(std::shared_ptr<store_detail::Core> core);
  std::shared_ptr<store_detail::Core> core_;
};

// The model's free functions: each opens the store at `cache_dir` ("" resolves
// as Store::open does) for the one call.
VMIMAGE_API Result<GcStats> gc(std::string_view cache_dir);
VMIMAGE_API Status save_registry_cache(std::string_view tag, std::string_view cache_dir,
                                       const ImageLayers& layers, const ImageMeta& meta);
VMIMAGE_API Result<BuildResult> get_registry_cache(std::string_view tag,
                                                   std::string_view cache_dir);
VMIMAGE_API Result<std::vector<ImageInfo>> list_registry_cache(std::string_view cache_dir);
VMIMAGE_API Result<GcStats> remove_registry_cache(std::string_view tag, std::string_view cache_dir);

}  // namespace vmimage
