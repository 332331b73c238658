// Puts an image's layers into the store as EROFS lowers: finds the blobs the
// store has, has the rest streamed by the image's LayerSource (several at
// once), completes each layer against the layers below it in order, and
// commits it under its key:
//   - the DiffID when the layer's image does not depend on the layers below;
//   - else a context key derived from its ChainID (layer_context_key), so a
//     chain-dependent blob is shared only by images with the same layers below.
// Blob locks are taken in one sorted pass before any work, so processes that
// share layers never wait on each other in a cycle.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "builder/layer_converter.h"
#include "vmimage/result.h"
#include "vmimage/builder.h"
#include "vmimage/store.h"

namespace vmimage::builder {

// The key of a chain-dependent layer blob.
std::string layer_context_key(const std::string& chain_id);
// The key of a blob that ends with a dm-verity tree, from the key the same
// filesystem has without one: a tree is part of a blob's identity.
std::string verity_blob_key(const std::string& key);
// The salt of every store blob's tree: fixed, so that each entry point and
// each host writes the same bytes for the same layer (docs/verity.md).
verity::Salt store_verity_salt();

// A layer through phase 1: its image being written into a scratch blob of the
// store (its key comes with phase 2), and the converter that wrote it.
struct StreamedLayer {
  std::unique_ptr<LayerConverter> converter;
  std::optional<BlobWriter> file;
};

// Where an image's layers come from. A registry opens and streams each layer
// when asked; an archive has streamed them already, as it went by, and hands
// them over. One StreamedLayer may serve two positions (the same blob twice).
class LayerSource {
 public:
  virtual ~LayerSource() = default;
  // Layer `index` streamed into a scratch blob of `lease`. Called from worker
  // threads, for the layers the store lacks only.
  virtual Result<std::shared_ptr<StreamedLayer>> stream(int index, Lease& lease,
                                                        ImageBudget& budget) = 0;
};

// A new LayerConverter writing into a new scratch blob of `lease`, with a
// dm-verity tree when `verity`.
Result<std::shared_ptr<StreamedLayer>> start_layer(Store& store, Lease& lease, bool verity);

struct LayerStoreOptions {
  int jobs = 3;
  BuildEvents events;  // may be empty; called from several threads, one at a time
  bool verity = false;  // the blobs have dm-verity trees (keys: verity_blob_key)
};

// The layers of one image, complete but for the publishing of the blobs this
// process wrote: their files are whole (in the store's tmp/, locked, leased), and
// commit (fsync, checksum, rename, record) waits for start() or finish(), so
// that it can overlap with reading those files for the squashed lower.
class StoredLayers {
 public:
  StoredLayers() = default;
  // `refs` base → top; a ref whose blob is in `pending` (base → top) has its temp path.
  StoredLayers(std::vector<LayerRef> refs, std::vector<BlobWriter> pending)
      : refs_(std::move(refs)), pending_(std::move(pending)) {}
  ~StoredLayers();  // waits for a started commit; uncommitted files are removed
  StoredLayers(const StoredLayers&) = delete;
  StoredLayers& operator=(const StoredLayers&) = delete;

  // Base → top. A blob not committed yet has its temp path: open it before start().
  const std::vector<LayerRef>& refs() const { return refs_; }
  // Commits the pending blobs on a worker thread.
  void start();
  // Waits for (or runs) the commits; the refs, every one in the store.
  Result<std::vector<LayerRef>> finish();

 private:
  friend Result<std::unique_ptr<StoredLayers>> store_layers(Store&, Lease&,
                                                            const std::vector<std::string>&,
                                                            LayerSource&, ImageBudget&,
                                                            const LayerStoreOptions&);
  Status commit_all();

  std::vector<LayerRef> refs_;
  std::vector<BlobWriter> pending_;  // in base → top order
  std::thread worker_;
  std::optional<Status> committed_;
};

// Puts one blob per layer (base → top) into the store. `diff_ids` are the config's.
Result<std::unique_ptr<StoredLayers>> store_layers(Store& store, Lease& lease,
                                                   const std::vector<std::string>& diff_ids,
                                                   LayerSource& source, ImageBudget& budget,
                                                   const LayerStoreOptions& options);

}  // namespace vmimage::builder
