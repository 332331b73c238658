// Puts an image's layers into the store as EROFS lowers: finds the blobs the
// store has, converts the rest (several at once), completes each layer against
// the layers below it in order, and commits it under its key:
//   - the DiffID when the layer's image does not depend on the layers below;
//   - else a context key derived from its ChainID (layer_context_key), so a
//     chain-dependent blob is shared only by images with the same layers below.
// Blob locks are taken in one sorted pass before any work, so processes that
// share layers never wait on each other in a cycle.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "builder/layer_conversion.h"
#include "io/reader.h"
#include "util/result.h"
#include "vmimage/builder.h"
#include "vmimage/store.h"

namespace vmimage::builder {

// The key of a chain-dependent layer blob.
std::string layer_context_key(const std::string& chain_id);

// Opens layer `index`'s uncompressed tar; the reader checks its digests at EOF.
using OpenLayer = std::function<Result<std::unique_ptr<io::Reader>>(int index)>;

// A layer already streamed (phase 1) into a store temp file, e.g. while an
// archive streamed past; store_layers completes and commits it under its key.
struct PrestreamedLayer {
  std::unique_ptr<LayerConversion> conversion;
  std::optional<BlobWriter> writer;  // holds the image being written
};

struct LayerStoreOptions {
  int jobs = 3;
  BuildEvents events;  // may be empty
  ImageBudget* budget = nullptr;  // the image's limits; required
};

// The layers of one image, complete but for the publishing of the blobs this
// process wrote: their files are whole (in the store's tmp/, locked, leased), and
// commit (fsync, checksum, rename, record) waits for start() or finish(), so
// that it can overlap with reading those files for the squashed lower.
class StoredLayers {
 public:
  StoredLayers() = default;
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
  friend Result<std::unique_ptr<StoredLayers>> store_layers(
      Store&, Lease&, const std::vector<std::string>&, const OpenLayer&,
      const LayerStoreOptions&, const std::function<std::shared_ptr<PrestreamedLayer>(int)>&);
  Status commit_all();

  std::vector<LayerRef> refs_;
  std::vector<BlobWriter> pending_;  // in base → top order
  std::thread worker_;
  Status committed_;
  bool done_ = false;
};

// Puts one blob per layer (base → top) into the store. `diff_ids` are the
// config's. `streamed` (nullable) gives layers already streamed, by index
// (shared_ptr: one archive blob may serve two positions); the others are opened
// with `open`.
using StreamedLookup = std::function<std::shared_ptr<PrestreamedLayer>(int index)>;
Result<std::unique_ptr<StoredLayers>> store_layers(Store& store, Lease& lease,
                                                   const std::vector<std::string>& diff_ids,
                                                   const OpenLayer& open,
                                                   const LayerStoreOptions& options,
                                                   const StreamedLookup& streamed = nullptr);

}  // namespace vmimage::builder
