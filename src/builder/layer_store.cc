#include "builder/layer_store.h"

#include <sys/stat.h>

#include <map>

#include "builder/chain.h"
#include "builder/merged_images.h"
#include "io/sha256.h"
#include "tree/merge.h"
#include "util/parallel.h"

namespace vmimage::builder {

namespace {

struct Slot {
  std::string diff_id;
  std::string diff_key;  // the blob's key when it does not depend on the layers below
  std::string context_key;
  std::optional<LayerRef> blob;              // in the store already, or committed
  std::optional<BlobWriter> context_writer;  // locked
  std::optional<BlobWriter> diff_writer;     // locked unless another slot holds the key
  std::shared_ptr<StreamedLayer> streamed;   // phase 1 done
  int same_blob_as = -1;                     // an earlier slot streamed the same blob
};

void emit(const LayerStoreOptions& o, BuildEvent::Kind kind, int index, const std::string& digest,
          std::string message = {}) {
  if (!o.events) return;
  BuildEvent e;
  e.kind = kind;
  e.index = index;
  e.digest = digest;
  e.message = std::move(message);
  o.events(e);
}

// Which key each slot needs, then every lock in sorted key order.
Status lock_slots(Store& store, Lease& lease, std::vector<Slot>& slots) {
  std::map<std::string, std::vector<std::pair<size_t, bool>>> wanted;  // key → (slot, is_context)
  for (size_t i = 0; i < slots.size(); ++i) {
    VMI_TRY(bool have_context, store.has_blob(slots[i].context_key));
    VMI_TRY(bool have_diff, store.has_blob(slots[i].diff_key));
    if (have_context) {
      wanted[slots[i].context_key].push_back({i, true});
    } else if (have_diff) {
      wanted[slots[i].diff_key].push_back({i, false});
    } else {
      wanted[slots[i].context_key].push_back({i, true});
      wanted[slots[i].diff_key].push_back({i, false});
    }
  }
  for (auto& [key, users] : wanted) {
    VMI_TRY(BlobWriter writer, lease.begin_blob(key, FsType::kErofs));
    if (writer.exists()) {
      VMI_TRY(LayerRef ref, writer.commit());
      for (auto [slot, is_context] : users) {
        if (!slots[slot].blob) slots[slot].blob = ref;
      }
      continue;
    }
    // A key two slots share (the same layer twice in one image) is locked once;
    // the later slot reuses what the earlier one commits.
    auto [slot, is_context] = users.front();
    (is_context ? slots[slot].context_writer : slots[slot].diff_writer) = std::move(writer);
  }
  for (Slot& s : slots) {
    if (s.blob) {
      s.context_writer.reset();
      s.diff_writer.reset();
    }
  }
  return {};
}

// Phase 1: every layer the store lacks, `jobs` at a time.
Status stream_all(std::vector<Slot>& slots, Lease& lease, LayerSource& source, ImageBudget& budget,
                  const LayerStoreOptions& options) {
  std::vector<size_t> todo;
  for (size_t i = 0; i < slots.size(); ++i) {
    if (!slots[i].blob) todo.push_back(i);
  }
  VMI_CHECK(parallel_for(todo.size(), options.jobs, [&](size_t k) -> Status {
    Slot& s = slots[todo[k]];
    int index = static_cast<int>(todo[k]);
    VMI_TRY(s.streamed, source.stream(index, lease, budget));
    for (const std::string& w : s.streamed->converter->warnings()) {
      emit(options, BuildEvent::Kind::kWarning, index, s.diff_id, w);
    }
    emit(options, BuildEvent::Kind::kConverting, index, s.diff_id);
    return {};
  }));
  for (size_t i = 0; i < slots.size(); ++i) {
    for (size_t j = 0; j < i && slots[i].streamed; ++j) {
      if (slots[j].streamed == slots[i].streamed) slots[i].same_blob_as = static_cast<int>(j);
    }
  }
  return {};
}

// Phase 2 for one streamed slot: complete it against `lower` and pick its key.
// The blob's writer goes to `pending` (committed later); its ref has the temp path.
Result<LayerRef> complete(std::vector<Slot>& slots, size_t i, const tree::Tree& lower,
                          std::vector<BlobWriter>& pending) {
  Slot& s = slots[i];
  if (s.same_blob_as >= 0) return *slots[s.same_blob_as].blob;
  LayerConverter& c = *s.streamed->converter;
  VMI_CHECK(c.finish(&lower));
  if (c.diff_id() != s.diff_id) {
    return Error(ErrorKind::kImageDigest, "layer " + std::to_string(i) + ": DiffID " +
                                              c.diff_id() + " does not match the config's " +
                                              s.diff_id);
  }
  BlobWriter* target = &*s.context_writer;
  std::string key = s.context_key;
  if (!c.context_sensitive()) {
    for (size_t j = 0; j < i; ++j) {  // an earlier slot holds (or will commit) this DiffID
      if (slots[j].blob && slots[j].blob->digest == s.diff_key) return *slots[j].blob;
    }
    if (s.diff_writer) {
      target = &*s.diff_writer;
      key = s.diff_key;
    }
  }
  VMI_CHECK(target->adopt(std::move(*s.streamed->file)));
  if (c.verity()) target->set_verity(*c.verity());
  s.streamed->file.reset();
  struct stat st;
  if (::fstat(target->fd(), &st) != 0) {
    return sys_error(ErrorKind::kStoreSave, "inspecting " + target->temp_path());
  }
  LayerRef ref{key, FsType::kErofs, static_cast<uint64_t>(st.st_size), target->temp_path(),
               c.verity()};
  pending.push_back(std::move(*target));
  return ref;
}

Status add_to_context(tree::Tree& context, const LayerRef& blob) {
  VMI_TRY(MergedImages layer, read_image_file(blob.path));
  return tree::apply_layer(context, layer.tree);
}

}  // namespace

std::string layer_context_key(const std::string& chain_id) {
  return io::sha256_digest("vmimage-lower-v1 " + chain_id);
}

std::string verity_blob_key(const std::string& key) {
  return io::sha256_digest("vmimage-verity-v1 " + key);
}

verity::Salt store_verity_salt() { return verity::derive_salt("vmimage store blob"); }

Result<std::shared_ptr<StreamedLayer>> start_layer(Store& store, Lease& lease, bool verity) {
  auto layer = std::make_shared<StreamedLayer>();
  VMI_TRY(BlobWriter file, lease.begin_scratch_blob());
  layer->file = std::move(file);
  LayerImageOptions options;
  if (verity) options.verity = store_verity_salt();
  VMI_TRY(layer->converter, LayerConverter::create(layer->file->fd(), layer->file->temp_path(),
                                                   store.scratch_dir(), options));
  return layer;
}

StoredLayers::~StoredLayers() {
  if (worker_.joinable()) worker_.join();
}

void StoredLayers::start() {
  if (committed_ || worker_.joinable()) return;
  worker_ = std::thread([this] { committed_ = commit_all(); });
}

Result<std::vector<LayerRef>> StoredLayers::finish() {
  if (worker_.joinable()) worker_.join();
  if (!committed_) committed_ = commit_all();
  if (!committed_->ok()) return committed_->error();
  return refs_;
}

Status StoredLayers::commit_all() {
  for (BlobWriter& writer : pending_) {
    std::string temp = writer.temp_path();
    VMI_TRY(LayerRef ref, writer.commit());
    for (LayerRef& r : refs_) {
      if (r.path == temp) r = ref;  // one blob may serve two positions
    }
  }
  pending_.clear();
  return {};
}

Result<std::unique_ptr<StoredLayers>> store_layers(Store& store, Lease& lease,
                                                   const std::vector<std::string>& diff_ids,
                                                   LayerSource& source, ImageBudget& budget,
                                                   const LayerStoreOptions& options) {
  std::vector<std::string> chains = chain_ids(diff_ids);
  std::vector<Slot> slots(diff_ids.size());
  for (size_t i = 0; i < slots.size(); ++i) {
    slots[i].diff_id = diff_ids[i];
    slots[i].diff_key = options.verity ? verity_blob_key(diff_ids[i]) : diff_ids[i];
    slots[i].context_key = layer_context_key(chains[i]);
    if (options.verity) slots[i].context_key = verity_blob_key(slots[i].context_key);
  }
  VMI_CHECK(lock_slots(store, lease, slots));
  for (size_t i = 0; i < slots.size(); ++i) {
    if (slots[i].blob) emit(options, BuildEvent::Kind::kCached, static_cast<int>(i), diff_ids[i]);
  }
  VMI_CHECK(stream_all(slots, lease, source, budget, options));

  auto stored = std::make_unique<StoredLayers>();
  tree::Tree context;
  for (size_t i = 0; i < slots.size(); ++i) {
    Slot& s = slots[i];
    if (!s.blob) {
      VMI_TRY(s.blob, complete(slots, i, context, stored->pending_));
      if (s.same_blob_as >= 0) {
        VMI_CHECK(add_to_context(context, *s.blob));
      } else {
        VMI_CHECK(tree::apply_layer(context, s.streamed->converter->tree()));
      }
      s.context_writer.reset();
      s.diff_writer.reset();
      emit(options, BuildEvent::Kind::kDone, static_cast<int>(i), s.blob->digest);
    } else if (i + 1 < slots.size()) {
      VMI_CHECK(add_to_context(context, *s.blob));
    }
    stored->refs_.push_back(*s.blob);
  }
  return stored;
}

}  // namespace vmimage::builder
