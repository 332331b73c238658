#include "builder/erofs_layers.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <utility>

#include "fs/erofs/reader.h"
#include "builder/push.h"
#include "io/sha256.h"
#include "util/parallel.h"
#include "util/writeback.h"
#include "verity/tree.h"

namespace vmimage::builder {
namespace {

constexpr size_t kCopyBuffer = size_t{1} << 20;
constexpr uint32_t kHoleBlock = 4096;

void emit(const LayerStoreOptions& o, BuildEvent::Kind kind, int index, const std::string& digest) {
  if (!o.events) return;
  BuildEvent e;
  e.kind = kind;
  e.index = index;
  e.digest = digest;
  o.events(e);
}

// The image into `fd` (all-zero blocks left as holes), within the size limits;
// its blocks hashed for a dm-verity tree as they pass when `hasher` is given.
Status copy_image(io::Reader& image, int fd, const std::string& name, ImageBudget& budget,
                  verity::DataHasher* hasher) {
  std::vector<std::byte> buf(kCopyBuffer);
  WritebackStarter writeback(fd);
  const uint64_t max_bytes = budget.limits().max_layer_bytes;
  for (uint64_t offset = 0;;) {
    VMI_TRY(std::span<const std::byte> got, image.read_view(buf));
    if (got.empty()) {
      // Trailing zero blocks were skipped: the file still needs its full size.
      if (::ftruncate(fd, static_cast<off_t>(offset)) != 0) {
        return sys_error(ErrorKind::kStoreSave, "sizing " + name);
      }
      return {};
    }
    if (got.size() > max_bytes - std::min(offset, max_bytes)) {
      return Error(ErrorKind::kLayerFs, name + " is larger than " + std::to_string(max_bytes) +
                                            " bytes (limit max-layer-bytes)");
    }
    if (!budget.image_bytes().take(got.size())) {
      return Error(ErrorKind::kLayerFs, "the image's layers hold more than " +
                                            std::to_string(budget.image_bytes().limit()) +
                                            " bytes (limit max-image-bytes)");
    }
    VMI_CHECK(pwrite_skipping_zero_blocks(fd, got, offset, kHoleBlock, name));
    if (hasher) VMI_CHECK(hasher->add(offset, got));
    writeback.wrote(offset, got.size());
    offset += got.size();
  }
}

std::string layer_key(const std::string& diff_id, const std::optional<VerityInfo>& tree,
                      bool verity) {
  std::string key = pulled_layer_key(diff_id);
  return tree || verity ? verity_blob_key(key) : key;
}

// One layer fetched into `writer`'s file and checked; its ref (temp path).
Result<LayerRef> fetch_layer(int index, const std::string& diff_id,
                             const std::optional<VerityInfo>& tree, const std::string& scratch_dir,
                             BlobWriter& writer, const OpenLayerImage& open, ImageBudget& budget,
                             const LayerStoreOptions& options) {
  std::string name = "layer " + std::to_string(index) + " (" + diff_id + ")";
  VMI_TRY(std::unique_ptr<io::Reader> image, open(index));
  // A layer published without a tree gets one here when asked for.
  std::unique_ptr<verity::DataHasher> hasher;
  if (!tree && options.verity) {
    VMI_TRY(hasher, verity::DataHasher::create(scratch_dir, store_verity_salt()));
  }
  VMI_CHECK(copy_image(*image, writer.fd(), name, budget, hasher.get()));
  emit(options, BuildEvent::Kind::kChecking, index, diff_id);
  if (tree) {
    // The digests vouch for the bytes, not for the tree in them: it must be
    // the tree of the data with the published root hash, or a guest opening
    // the layer with that root would fail its reads.
    Status checked = verity::check_tree(writer.fd(), name, *tree, scratch_dir);
    if (!checked) {
      return Error(ErrorKind::kLayerFs, checked.error().message() + " (published dm-verity tree)");
    }
  }
  // With a published tree, everything the filesystem holds must lie in the
  // data the tree covers: a guest reading through dm-verity sees no more.
  std::optional<uint64_t> end;
  if (tree) end = tree->data_size;
  VMI_TRY(tree::Tree files, erofs::read_image(writer.fd(), 0, name, end));
  VMI_CHECK(check_layer_tree(files, name, budget));
  writer.set_pulled(diff_id);
  std::optional<VerityInfo> verity = tree;
  if (hasher) {
    struct stat image {};
    if (::fstat(writer.fd(), &image) != 0) {
      return sys_error(ErrorKind::kStoreSave, "inspecting " + name);
    }
    VMI_TRY(verity, hasher->append_tree(writer.fd(), static_cast<uint64_t>(image.st_size), name));
  }
  if (verity) writer.set_verity(*verity);
  struct stat st {};
  if (::fstat(writer.fd(), &st) != 0) {
    return sys_error(ErrorKind::kStoreSave, "inspecting " + writer.temp_path());
  }
  return LayerRef{layer_key(diff_id, tree, options.verity), FsType::kErofs,
                  static_cast<uint64_t>(st.st_size), writer.temp_path(), verity};
}

bool is_hex(const std::string& s, size_t length) {
  return s.size() == length && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

Result<std::optional<VerityInfo>> published_verity(const oci::Descriptor& layer) {
  auto get = [&](std::string_view key) -> const std::string* {
    auto it = layer.annotations.find(std::string(key));
    return it == layer.annotations.end() ? nullptr : &it->second;
  };
  const std::string* root = get(kVerityRootHashAnnotation);
  const std::string* salt = get(kVeritySaltAnnotation);
  const std::string* data = get(kVerityDataSizeAnnotation);
  const std::string* offset = get(kVerityHashOffsetAnnotation);
  if (!root && !salt && !data && !offset) return std::optional<VerityInfo>();
  auto number = [](const std::string* text) -> std::optional<uint64_t> {
    if (!text || text->empty() || text->size() > 19) return std::nullopt;
    uint64_t v = 0;
    for (char c : *text) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
  };
  std::optional<uint64_t> data_size = number(data), hash_offset = number(offset);
  if (!root || !is_hex(*root, 64) || !salt || !is_hex(*salt, 64) || !data_size ||
      !hash_offset || *data_size == 0 || *data_size % verity::kBlock != 0 ||
      *hash_offset != *data_size) {
    return Error(ErrorKind::kPullImage, "layer " + layer.digest.str() +
                                            ": malformed dm-verity annotations (vmimage writes a "
                                            "64-hex root hash and salt, and a 4096-aligned data "
                                            "size equal to the hash offset)");
  }
  return std::optional<VerityInfo>(VerityInfo{*root, *salt, *data_size, *hash_offset});
}

std::string pulled_layer_key(const std::string& diff_id) {
  return io::sha256_digest("vmimage-pulled-erofs-v1 " + diff_id);
}

Status check_layer_tree(const tree::Tree& tree, const std::string& name, ImageBudget& budget) {
  const Limits& limits = budget.limits();
  uint64_t entries = 0;
  std::vector<tree::InodeId> level{tree.root()};
  for (uint64_t depth = 0; !level.empty(); ++depth) {
    if (depth > limits.max_path_depth) {
      return Error(ErrorKind::kLayerFs, name + " has paths deeper than " +
                                            std::to_string(limits.max_path_depth) +
                                            " directories (limit max-path-depth)");
    }
    std::vector<tree::InodeId> next;
    for (tree::InodeId dir : level) {
      for (const auto& [child_name, child] : tree.inode(dir).children) {
        if (++entries > limits.max_layer_entries) {
          return Error(ErrorKind::kLayerFs, name + " has more than " +
                                                std::to_string(limits.max_layer_entries) +
                                                " entries (limit max-layer-entries)");
        }
        if (tree.inode(child).is_dir()) next.push_back(child);
      }
    }
    level = std::move(next);
  }
  if (!budget.image_entries().take(entries)) {
    return Error(ErrorKind::kLayerFs, "the image's layers hold more than " +
                                          std::to_string(budget.image_entries().limit()) +
                                          " entries (limit max-image-entries)");
  }
  return {};
}

Result<std::unique_ptr<StoredLayers>> store_erofs_layers(
    Lease& lease, const std::vector<std::string>& diff_ids,
    const std::vector<std::optional<VerityInfo>>& trees, const std::string& scratch_dir,
    const OpenLayerImage& open, ImageBudget& budget, const LayerStoreOptions& options) {
  // Each key once, locked in sorted order (as store_layers does).
  std::map<std::string, std::vector<size_t>> slots_of;
  for (size_t i = 0; i < diff_ids.size(); ++i) {
    slots_of[layer_key(diff_ids[i], trees.at(i), options.verity)].push_back(i);
  }
  std::vector<std::optional<LayerRef>> refs(diff_ids.size());
  std::vector<std::pair<size_t, BlobWriter>> todo;  // first slot of each missing key
  for (auto& [key, slots] : slots_of) {
    VMI_TRY(BlobWriter writer, lease.begin_blob(key, FsType::kErofs));
    if (writer.exists()) {
      VMI_TRY(LayerRef ref, writer.commit());
      for (size_t i : slots) {
        refs[i] = ref;
        emit(options, BuildEvent::Kind::kCached, static_cast<int>(i), diff_ids[i]);
      }
      continue;
    }
    todo.emplace_back(slots.front(), std::move(writer));
  }
  std::vector<LayerRef> fetched(todo.size());
  VMI_CHECK(parallel_for(todo.size(), options.jobs, [&](size_t k) -> Status {
    auto& [slot, writer] = todo[k];
    int index = static_cast<int>(slot);
    VMI_TRY(fetched[k], fetch_layer(index, diff_ids[slot], trees[slot], scratch_dir, writer, open,
                                    budget, options));
    emit(options, BuildEvent::Kind::kDone, index, diff_ids[slot]);
    return {};
  }));
  std::vector<std::pair<size_t, BlobWriter*>> order;  // pending writers, base → top
  for (size_t k = 0; k < todo.size(); ++k) {
    for (size_t i : slots_of[fetched[k].digest]) refs[i] = fetched[k];
    order.emplace_back(todo[k].first, &todo[k].second);
  }
  std::sort(order.begin(), order.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<BlobWriter> pending;
  pending.reserve(order.size());
  for (auto& [slot, writer] : order) pending.push_back(std::move(*writer));
  std::vector<LayerRef> all;
  all.reserve(refs.size());
  for (const std::optional<LayerRef>& ref : refs) all.push_back(*ref);
  return std::make_unique<StoredLayers>(std::move(all), std::move(pending));
}

}  // namespace vmimage::builder
