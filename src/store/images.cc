// Image metadata: save (replacing a tag atomically), find, list, delete and tag,
// each in one SQLite transaction.
#include <sys/stat.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "oci/reference.h"
#include "store/core.h"

namespace vmimage::store_detail {
namespace {

// A tag is an image reference by Docker's grammar (distribution/reference),
// stored as given: "app:v1", "localhost:5000/a/b:tag", "name@sha256:...".
Status check_tag(std::string_view tag, ErrorKind kind) {
  Result<oci::Reference> ref = oci::parse_reference(tag);
  if (!ref) return Error(kind, "invalid image tag: " + ref.error().message());
  return {};
}

std::string oci_to_json(const OCIConfig& oci) {
  nlohmann::json j = {{"user", oci.user},
                      {"working_dir", oci.working_dir},
                      {"entrypoint", oci.entrypoint},
                      {"cmd", oci.cmd},
                      {"env", oci.env}};
  return j.dump();
}

Result<OCIConfig> oci_from_json(const std::string& text, std::string_view tag) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return Error(ErrorKind::kMetadata, "malformed OCI config of image " + std::string(tag));
  }
  OCIConfig oci;
  try {
    oci.user = j.value("user", "");
    oci.working_dir = j.value("working_dir", "");
    oci.entrypoint = j.value("entrypoint", std::vector<std::string>{});
    oci.cmd = j.value("cmd", std::vector<std::string>{});
    oci.env = j.value("env", std::map<std::string, std::string>{});
  } catch (const nlohmann::json::exception& e) {
    return Error(ErrorKind::kMetadata,
                 "malformed OCI config of image " + std::string(tag) + ": " + e.what());
  }
  return oci;
}

TimePoint from_ns(int64_t ns) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::nanoseconds(ns)));
}

int64_t to_ns(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

const std::string& role_name(bool runtime) {
  static const std::string kRuntime = "runtime", kCanonical = "canonical";
  return runtime ? kRuntime : kCanonical;
}

// The images row columns every reader selects, in this order.
constexpr const char* kImageColumns =
    "id, scope, tag, digest, size, created_at, source, oci_json, config, index_digest, platform";
constexpr int kImageColumnCount = 11;  // a query's own columns follow these

Result<ImageMeta> read_meta(const Statement& row) {
  ImageMeta meta;
  meta.tag = row.text(2);
  meta.digest = row.text(3);
  meta.size = static_cast<uint64_t>(row.integer(4));
  meta.created_at = from_ns(row.integer(5));
  auto source = parse_image_source(row.text(6));
  if (!source) return Error(ErrorKind::kMetadata, "image " + meta.tag + " has an unknown source");
  meta.source = *source;
  VMI_TRY(meta.oci, oci_from_json(row.text(7), meta.tag));
  meta.config = row.text(8);
  meta.index_digest = row.text(9);
  meta.platform = row.text(10);
  return meta;
}

Result<std::optional<int64_t>> image_id(Db& db, Scope scope, std::string_view tag, ErrorKind kind) {
  VMI_TRY(auto stmt,
          Statement::prepare(db, "SELECT id FROM images WHERE scope = ? AND tag = ?", kind));
  stmt.bind(scope_name(scope)).bind(tag);
  VMI_TRY(bool row, stmt.step());
  if (!row) return std::optional<int64_t>();
  return std::optional<int64_t>(stmt.integer(0));
}

Result<std::vector<BlobId>> image_blobs(Db& db, int64_t id, ErrorKind kind) {
  VMI_TRY(auto stmt,
          Statement::prepare(
              db, "SELECT DISTINCT digest, fs_type FROM image_layers WHERE image_id = ?", kind));
  stmt.bind(id);
  std::vector<BlobId> blobs;
  for (;;) {
    VMI_TRY(bool row, stmt.step());
    if (!row) break;
    blobs.push_back({stmt.text(0), parse_fs_type(stmt.text(1)).value_or(FsType::kErofs)});
  }
  return blobs;
}

// Looks up a blob's size; an error when the store does not have it, so an image
// can never reference a blob that gc removed or that was never committed.
Result<uint64_t> committed_blob_size(Core& core, const LayerRef& layer) {
  VMI_TRY(std::string name, blob_file_name(layer.digest, layer.fs_type));
  std::string what = layer.digest + " (" + std::string(fs_type_name(layer.fs_type)) + ")";
  VMI_TRY(auto stmt,
          Statement::prepare(core.db(), "SELECT size FROM blobs WHERE digest = ? AND fs_type = ?",
                             ErrorKind::kStoreSave));
  stmt.bind(layer.digest).bind(fs_type_name(layer.fs_type));
  VMI_TRY(bool row, stmt.step());
  if (!row) return Error(ErrorKind::kStoreSave, "blob " + what + " is not in the store");
  struct stat st;
  std::string path = core.layout().blob_path(name);
  if (::stat(path.c_str(), &st) != 0) {
    return sys_error(ErrorKind::kStoreSave, "blob " + what + " is recorded but " + path +
                                                " is unreadable (run vmimage verify)");
  }
  return static_cast<uint64_t>(stmt.integer(0));
}

Status insert_layers(Db& db, int64_t id, bool runtime, const std::vector<LayerRef>& layers) {
  VMI_TRY(auto stmt, Statement::prepare(db,
                                        "INSERT INTO image_layers (image_id, role, position, "
                                        "digest, fs_type) VALUES (?, ?, ?, ?, ?)",
                                        ErrorKind::kStoreSave));
  for (size_t i = 0; i < layers.size(); ++i) {
    stmt.reset();
    stmt.bind(id).bind(role_name(runtime)).bind(static_cast<int64_t>(i)).bind(layers[i].digest);
    stmt.bind(fs_type_name(layers[i].fs_type));
    VMI_CHECK(stmt.run());
  }
  return {};
}

Result<int64_t> insert_image(Db& db, Scope scope, std::string_view tag, const ImageMeta& meta,
                             uint64_t size) {
  VMI_TRY(auto stmt, Statement::prepare(db,
                                        "INSERT INTO images (scope, tag, digest, size, created_at, "
                                        "source, oci_json, config, index_digest, platform) "
                                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                        ErrorKind::kStoreSave));
  int64_t created = meta.created_at == TimePoint{} ? now_ns() : to_ns(meta.created_at);
  stmt.bind(scope_name(scope)).bind(tag).bind(meta.digest).bind(static_cast<int64_t>(size));
  stmt.bind(created).bind(image_source_name(meta.source)).bind(oci_to_json(meta.oci));
  stmt.bind(meta.config).bind(meta.index_digest).bind(meta.platform);
  VMI_CHECK(stmt.run());
  return db.last_insert_rowid();
}

Result<std::vector<BlobId>> delete_image_row(Db& db, Scope scope, std::string_view tag,
                                             ErrorKind kind) {
  VMI_TRY(auto id, image_id(db, scope, tag, kind));
  if (!id) return std::vector<BlobId>();
  VMI_TRY(auto blobs, image_blobs(db, *id, kind));
  VMI_TRY(auto stmt, Statement::prepare(db, "DELETE FROM images WHERE id = ?", kind));
  stmt.bind(*id);
  VMI_CHECK(stmt.run());
  return blobs;
}

LayerRef layer_ref(const StorePaths& layout, std::string digest, FsType fs_type, uint64_t size) {
  LayerRef ref{std::move(digest), fs_type, size, {}};
  auto name = blob_file_name(ref.digest, fs_type);
  if (name.ok()) ref.path = layout.blob_path(*name);
  return ref;
}

Status read_layers(Core& core, int64_t id, BuildResult& result) {
  VMI_TRY(auto stmt, Statement::prepare(core.db(),
                                        std::string("SELECT l.role, l.digest, l.fs_type, b.size, ") +
                                            kVerityColumns +
                                            " FROM image_layers l JOIN blobs b USING (digest, fs_type) "
                                        "WHERE l.image_id = ? ORDER BY l.role, l.position",
                                        ErrorKind::kStoreRead));
  stmt.bind(id);
  for (;;) {
    VMI_TRY(bool row, stmt.step());
    if (!row) break;
    auto fs_type = parse_fs_type(stmt.text(2));
    if (!fs_type) return Error(ErrorKind::kMetadata, "unknown fs type " + stmt.text(2));
    LayerRef ref =
        layer_ref(core.layout(), stmt.text(1), *fs_type, static_cast<uint64_t>(stmt.integer(3)));
    ref.verity = verity_columns(stmt, 4);
    (stmt.text(0) == "runtime" ? result.layers : result.canonical_layers).push_back(ref);
  }
  for (const LayerRef& layer : result.layers) {
    result.lower_paths.push_back(layer.path);
    result.lower_fs_types.push_back(layer.fs_type);
    result.layer_digests.push_back(layer.digest);
  }
  if (!result.lower_paths.empty()) result.rootfs_path = result.lower_paths.front();
  return {};
}

Result<std::vector<LayerRef>> runtime_layers(const ImageLayers& layers) {
  const std::vector<LayerRef>& runtime = layers.runtime.empty() ? layers.canonical : layers.runtime;
  if (runtime.empty()) return Error(ErrorKind::kStoreSave, "an image needs at least one layer");
  return runtime;
}

}  // namespace

Status save_image(Core& core, Scope scope, std::string_view tag, const ImageLayers& layers,
                  const ImageMeta& meta) {
  VMI_CHECK(check_tag(tag, ErrorKind::kStoreSave));
  VMI_TRY(std::vector<LayerRef> runtime, runtime_layers(layers));
  const std::vector<LayerRef>& canonical = layers.canonical.empty() ? runtime : layers.canonical;
  std::vector<BlobId> replaced;
  {
    auto guard = core.lock_db();
    VMI_TRY(auto txn, Transaction::begin(core.db(), ErrorKind::kStoreSave));
    uint64_t size = 0;
    for (const LayerRef& layer : canonical) VMI_CHECK(committed_blob_size(core, layer));
    for (const LayerRef& layer : runtime) {
      VMI_TRY(uint64_t blob_size, committed_blob_size(core, layer));
      size += blob_size;
    }
    VMI_TRY(replaced, delete_image_row(core.db(), scope, tag, ErrorKind::kStoreSave));
    VMI_TRY(int64_t id, insert_image(core.db(), scope, tag, meta, meta.size ? meta.size : size));
    VMI_CHECK(insert_layers(core.db(), id, false, canonical));
    VMI_CHECK(insert_layers(core.db(), id, true, runtime));
    core.step(StoreStep::kSaveInTransaction);
    Status committed = txn.commit();
    if (!committed.ok()) {
      return std::move(committed).error().context("saving image " + std::string(tag));
    }
  }
  prune_blobs(core, replaced);
  return {};
}

Result<StoredImage> find_image(Core& core, Scope scope, std::string_view tag) {
  auto guard = core.lock_db();
  VMI_TRY(auto snapshot, Transaction::begin_read(core.db()));
  VMI_TRY(auto stmt, Statement::prepare(core.db(),
                                        std::string("SELECT ") + kImageColumns +
                                            " FROM images WHERE scope = ? AND tag = ?",
                                        ErrorKind::kStoreRead));
  stmt.bind(scope_name(scope)).bind(tag);
  VMI_TRY(bool row, stmt.step());
  if (!row) {
    return Error(ErrorKind::kImageNotFound, "no image tagged " + std::string(tag) + " in the " +
                                                std::string(scope_name(scope)) + " store");
  }
  StoredImage image;
  image.scope = scope;
  VMI_TRY(image.meta, read_meta(stmt));
  BuildResult& result = image.result;
  VMI_CHECK(read_layers(core, stmt.integer(0), result));
  result.digest = image.meta.digest;
  result.size = image.meta.size;
  result.cached = true;
  result.oci = image.meta.oci;
  return image;
}

Result<std::vector<ImageInfo>> list_images(Core& core, Scope scope) {
  auto guard = core.lock_db();
  VMI_TRY(auto stmt,
          Statement::prepare(core.db(),
                             std::string("SELECT ") + kImageColumns +
                                 ", (SELECT l.digest || ' ' || l.fs_type FROM image_layers l "
                                 "WHERE l.image_id = images.id AND l.role = 'runtime' "
                                 "AND l.position = 0) FROM images WHERE scope = ? "
                                 "ORDER BY created_at DESC, tag",
                             ErrorKind::kStoreRead));
  stmt.bind(scope_name(scope));
  std::vector<ImageInfo> images;
  for (;;) {
    VMI_TRY(bool row, stmt.step());
    if (!row) break;
    ImageInfo info;
    VMI_TRY(info.meta, read_meta(stmt));
    info.tag = info.meta.tag;
    info.scope = scope;
    std::string first = stmt.text(kImageColumnCount);
    auto space = first.find(' ');
    if (space != std::string::npos) {
      auto fs_type = parse_fs_type(first.substr(space + 1)).value_or(FsType::kErofs);
      info.rootfs_path = layer_ref(core.layout(), first.substr(0, space), fs_type, 0).path;
    }
    images.push_back(std::move(info));
  }
  return images;
}

Result<std::vector<BlobId>> delete_image(Core& core, Scope scope, std::string_view tag) {
  auto guard = core.lock_db();
  VMI_TRY(auto txn, Transaction::begin(core.db(), ErrorKind::kStoreSave));
  VMI_TRY(auto id, image_id(core.db(), scope, tag, ErrorKind::kStoreSave));
  if (!id) {
    return Error(ErrorKind::kImageNotFound, "no image tagged " + std::string(tag) + " in the " +
                                                std::string(scope_name(scope)) + " store");
  }
  VMI_TRY(auto blobs, delete_image_row(core.db(), scope, tag, ErrorKind::kStoreSave));
  VMI_CHECK(txn.commit());
  return blobs;
}

Result<std::vector<BlobId>> tag_image(Core& core, std::string_view src, std::string_view dst) {
  VMI_CHECK(check_tag(dst, ErrorKind::kUsage));
  auto guard = core.lock_db();
  Db& db = core.db();
  VMI_TRY(auto txn, Transaction::begin(db, ErrorKind::kStoreSave));
  VMI_TRY(auto src_id, image_id(db, Scope::kLocal, src, ErrorKind::kStoreSave));
  if (!src_id) {
    VMI_TRY(src_id, image_id(db, Scope::kRegistry, src, ErrorKind::kStoreSave));
  }
  if (!src_id) return Error(ErrorKind::kImageNotFound, "no image tagged " + std::string(src));
  VMI_TRY(auto dst_id, image_id(db, Scope::kLocal, dst, ErrorKind::kStoreSave));
  if (dst_id == src_id) return std::vector<BlobId>();
  VMI_TRY(auto replaced, delete_image_row(db, Scope::kLocal, dst, ErrorKind::kStoreSave));
  VMI_TRY(auto copy, Statement::prepare(db,
                                        "INSERT INTO images (scope, tag, digest, size, created_at, "
                                        "source, oci_json, config, index_digest, platform) SELECT "
                                        "'local', ?, digest, size, ?, 'tag', oci_json, config, "
                                        "index_digest, platform FROM images WHERE id = ?",
                                        ErrorKind::kStoreSave));
  copy.bind(dst).bind(now_ns()).bind(*src_id);
  VMI_CHECK(copy.run());
  int64_t new_id = db.last_insert_rowid();
  VMI_TRY(auto layers, Statement::prepare(db,
                                          "INSERT INTO image_layers (image_id, role, position, "
                                          "digest, fs_type) SELECT ?, role, position, digest, "
                                          "fs_type FROM image_layers WHERE image_id = ?",
                                          ErrorKind::kStoreSave));
  layers.bind(new_id).bind(*src_id);
  VMI_CHECK(layers.run());
  VMI_CHECK(txn.commit());
  return replaced;
}

}  // namespace vmimage::store_detail
