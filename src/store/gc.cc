// Garbage collection (unreferenced blobs, dead leases, crash leftovers), blob
// listing and verification. A blob is deleted only under its lock, after its
// row was deleted in a transaction that found no image and no lease using it.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "store/core.h"

namespace vmimage::store_detail {
namespace {

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (const dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
  }
  ::closedir(d);
  return names;
}

uint64_t file_size(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// Deletes the blob's row when nothing references it. Returns whether the file
// may go: the row was deleted, or there never was one (a crash leftover).
Result<bool> drop_row_if_unreferenced(Core& core, const BlobId& id) {
  auto guard = core.lock_db();
  Db& db = core.db();
  VMI_TRY(auto txn, Transaction::begin(db, ErrorKind::kStoreSave));
  VMI_TRY(auto exists,
          Statement::prepare(db, "SELECT 1 FROM blobs WHERE digest = ? AND fs_type = ?",
                             ErrorKind::kStoreSave));
  exists.bind(id.digest).bind(fs_type_name(id.fs_type));
  VMI_TRY(bool row, exists.step());
  if (!row) return true;
  VMI_TRY(auto del,
          Statement::prepare(
              db,
              "DELETE FROM blobs WHERE digest = ?1 AND fs_type = ?2 "
              "AND NOT EXISTS (SELECT 1 FROM image_layers WHERE digest = ?1 AND fs_type = ?2) "
              "AND NOT EXISTS (SELECT 1 FROM lease_blobs WHERE digest = ?1 AND fs_type = ?2)",
              ErrorKind::kStoreSave));
  del.bind(id.digest).bind(fs_type_name(id.fs_type));
  VMI_CHECK(del.run());
  bool deleted = db.changes() > 0;
  VMI_CHECK(txn.commit());
  return deleted;
}

// Removes one blob if unreferenced and not locked by a process producing or leasing it.
void prune_one(Core& core, const BlobId& id, GcStats& stats) {
  auto name = blob_file_name(id.digest, id.fs_type);
  if (!name.ok()) return;
  auto lock = FileLock::acquire(core.layout().blob_lock_path(*name), false);
  if (!lock.ok() || !lock->held()) return;
  auto drop = drop_row_if_unreferenced(core, id);
  if (!drop.ok() || !*drop) return;
  std::string path = core.layout().blob_path(*name);
  uint64_t size = file_size(path);
  if (::unlink(path.c_str()) == 0) {
    stats.blobs_removed++;
    stats.bytes_removed += size;
  }
}

Result<std::vector<std::string>> lease_ids(Core& core) {
  auto guard = core.lock_db();
  VMI_TRY(auto stmt, Statement::prepare(core.db(), "SELECT id FROM leases", ErrorKind::kStoreRead));
  std::vector<std::string> ids;
  for (;;) {
    VMI_TRY(bool row, stmt.step());
    if (!row) break;
    ids.push_back(stmt.text(0));
  }
  return ids;
}

// A lease is alive while its process holds the lease's lock file.
Status reap_dead_leases(Core& core, GcStats& stats) {
  VMI_TRY(auto ids, lease_ids(core));
  std::set<std::string> known(ids.begin(), ids.end());
  for (const std::string& id : ids) {
    std::string path = core.layout().lease_lock_path(id);
    bool missing = ::access(path.c_str(), F_OK) != 0 && errno == ENOENT;
    VMI_TRY(FileLock lock, FileLock::try_existing(path));
    if (!missing && !lock.held()) continue;
    auto guard = core.lock_db();
    VMI_TRY(auto del, Statement::prepare(core.db(), "DELETE FROM leases WHERE id = ?",
                                         ErrorKind::kStoreSave));
    VMI_CHECK(del.bind(id).run());
    stats.leases_reaped++;
  }
  // Lock files without a row: a process died between creating its lease file
  // and recording the lease (a live one still holds the lock).
  for (const std::string& name : dir_entries(core.layout().leases)) {
    if (name.size() <= 5 || known.count(name.substr(0, name.size() - 5))) continue;
    // Held means dead; releasing the lock removes the file.
    VMI_TRY(FileLock lock, FileLock::try_existing(core.layout().leases + "/" + name));
  }
  return {};
}

Result<std::vector<BlobId>> unreferenced_blobs(Core& core) {
  auto guard = core.lock_db();
  VMI_TRY(auto stmt, Statement::prepare(
                         core.db(),
                         "SELECT digest, fs_type FROM blobs b WHERE NOT EXISTS (SELECT 1 FROM "
                         "image_layers l WHERE l.digest = b.digest AND l.fs_type = b.fs_type) "
                         "AND NOT EXISTS (SELECT 1 FROM lease_blobs l WHERE l.digest = b.digest "
                         "AND l.fs_type = b.fs_type)",
                         ErrorKind::kStoreRead));
  std::vector<BlobId> ids;
  for (;;) {
    VMI_TRY(bool row, stmt.step());
    if (!row) break;
    if (auto fs = parse_fs_type(stmt.text(1))) ids.push_back({stmt.text(0), *fs});
  }
  return ids;
}

// Blob files that no row describes: renamed into place by a process that died
// before recording them. prune_one re-checks under the blob's lock.
std::vector<BlobId> unrecorded_blob_files(Core& core, const std::set<std::string>& recorded) {
  std::vector<BlobId> ids;
  for (const std::string& name : dir_entries(core.layout().blobs)) {
    auto id = parse_blob_file_name(name);
    if (id && !recorded.count(name)) ids.push_back(*id);
  }
  return ids;
}

// Whether the lease's process still holds its lock file. The file exists from
// before the lease's first temp file until the lease ends.
bool lease_alive(Core& core, const std::string& lease_id) {
  std::string path = core.layout().lease_lock_path(lease_id);
  if (::access(path.c_str(), F_OK) != 0) return false;
  auto lock = FileLock::try_existing(path);
  // Taken by us means its holder is gone (releasing it removes the file).
  return lock.ok() && !lock->held() && ::access(path.c_str(), F_OK) == 0;
}

// Temp files of leases that ended (a crash, or a process that died) are
// leftovers; a live lease's files stay, whatever key they will be committed
// under. Files of older versions, named after their blob, go when nobody holds
// the blob's lock.
void remove_temp_leftovers(Core& core, GcStats& stats) {
  for (const std::string& name : dir_entries(core.layout().tmp)) {
    std::string path = core.layout().tmp + "/" + name;
    FileLock lock;
    if (auto lease = temp_file_lease(name)) {
      if (lease_alive(core, *lease)) continue;
    } else if (auto id = parse_legacy_temp_file_name(name)) {
      auto file = blob_file_name(id->digest, id->fs_type);
      auto taken = FileLock::acquire(core.layout().blob_lock_path(*file), false);
      if (!taken.ok() || !taken->held()) continue;
      lock = std::move(*taken);
    }
    uint64_t size = file_size(path);
    if (::unlink(path.c_str()) == 0) {
      stats.temp_files_removed++;
      stats.bytes_removed += size;
    }
  }
}

// Lock files normally vanish with their holder's release; a crash leaves them.
void remove_stale_locks(Core& core) {
  for (const std::string& name : dir_entries(core.layout().locks)) {
    // Taken means unused; releasing it removes the file.
    auto lock = FileLock::try_existing(core.layout().locks + "/" + name);
  }
}

Result<std::set<std::string>> recorded_file_names(Core& core) {
  VMI_TRY(auto blobs, list_blobs(core));
  std::set<std::string> names;
  for (const BlobRecord& b : blobs) {
    auto name = blob_file_name(b.blob.digest, b.blob.fs_type);
    if (name.ok()) names.insert(*name);
  }
  return names;
}

}  // namespace

GcStats prune_blobs(Core& core, const std::vector<BlobId>& candidates) {
  GcStats stats;
  for (const BlobId& id : candidates) prune_one(core, id, stats);
  return stats;
}

// Where registry blobs were seen (push's mount hints) is forgotten after this.
constexpr int64_t kLocationLifetimeNs = int64_t{30} * 24 * 3600 * 1'000'000'000;

// Registries drop unfinished uploads after a while (Distribution: a week).
constexpr int64_t kUploadLifetimeNs = int64_t{7} * 24 * 3600 * 1'000'000'000;

Status forget_old_locations(Core& core) {
  auto guard = core.lock_db();
  VMI_TRY(auto stmt, Statement::prepare(core.db(), "DELETE FROM blob_locations WHERE seen_at < ?",
                                        ErrorKind::kStoreSave));
  stmt.bind(now_ns() - kLocationLifetimeNs);
  VMI_CHECK(stmt.run());
  VMI_TRY(auto uploads,
          Statement::prepare(core.db(), "DELETE FROM upload_sessions WHERE updated_at < ?",
                             ErrorKind::kStoreSave));
  uploads.bind(now_ns() - kUploadLifetimeNs);
  return uploads.run();
}

Result<GcStats> collect_garbage(Core& core) {
  GcStats stats;
  VMI_CHECK(forget_old_locations(core));
  VMI_CHECK(reap_dead_leases(core, stats));
  VMI_TRY(auto unreferenced, unreferenced_blobs(core));
  for (const BlobId& id : unreferenced) prune_one(core, id, stats);
  VMI_TRY(auto recorded, recorded_file_names(core));
  for (const BlobId& id : unrecorded_blob_files(core, recorded)) prune_one(core, id, stats);
  remove_temp_leftovers(core, stats);
  remove_stale_locks(core);
  return stats;
}

namespace {

// The blob records a query over `blobs b JOIN blob_refcounts r` selects.
Result<std::vector<BlobRecord>> read_blob_records(Core& core, Statement& stmt) {
  std::vector<BlobRecord> records;
  for (;;) {
    VMI_TRY(bool row, stmt.step());
    if (!row) break;
    auto fs = parse_fs_type(stmt.text(1));
    if (!fs) return Error(ErrorKind::kMetadata, "blob " + stmt.text(0) + " has an unknown fs type");
    BlobRecord r;
    r.blob = LayerRef{stmt.text(0), *fs, static_cast<uint64_t>(stmt.integer(2)), {}};
    auto name = blob_file_name(r.blob.digest, *fs);
    if (name.ok()) r.blob.path = core.layout().blob_path(*name);
    r.file_checksum = stmt.text(3);
    r.refcount = static_cast<uint64_t>(stmt.integer(4));
    r.origin = stmt.text(5) == "pulled" ? BlobOrigin::kPulled : BlobOrigin::kConverted;
    r.content_digest = stmt.text(6);
    r.blob.verity = verity_columns(stmt, 7);
    records.push_back(std::move(r));
  }
  return records;
}

constexpr const char* kBlobRecordQuery =
    "SELECT b.digest, b.fs_type, b.size, b.file_checksum, r.refcount, b.origin, "
    "b.content_digest, b.verity_root_hash, b.verity_salt, b.verity_data_size, "
    "b.verity_hash_offset FROM blobs b JOIN blob_refcounts r USING (digest, fs_type) ";

}  // namespace

Result<std::vector<BlobRecord>> list_blobs(Core& core) {
  auto guard = core.lock_db();
  VMI_TRY(auto stmt, Statement::prepare(
                         core.db(), std::string(kBlobRecordQuery) + "ORDER BY b.digest, b.fs_type",
                         ErrorKind::kStoreRead));
  return read_blob_records(core, stmt);
}

Result<std::optional<BlobRecord>> find_blob(Core& core, const BlobId& id) {
  auto guard = core.lock_db();
  VMI_TRY(auto stmt,
          Statement::prepare(core.db(),
                             std::string(kBlobRecordQuery) + "WHERE b.digest = ? AND b.fs_type = ?",
                             ErrorKind::kStoreRead));
  stmt.bind(id.digest).bind(fs_type_name(id.fs_type));
  VMI_TRY(std::vector<BlobRecord> found, read_blob_records(core, stmt));
  if (found.empty()) return std::optional<BlobRecord>();
  return std::optional<BlobRecord>(std::move(found.front()));
}

Result<std::optional<std::string>> setting(Core& core, std::string_view name) {
  auto guard = core.lock_db();
  // A store too old for settings (opened read-only, so not migrated) has none.
  VMI_TRY(auto table, Statement::prepare(core.db(),
                                         "SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
                                         "name = 'settings'",
                                         ErrorKind::kStoreRead));
  VMI_TRY(bool has_table, table.step());
  if (!has_table) return std::optional<std::string>();
  VMI_TRY(auto stmt, Statement::prepare(core.db(), "SELECT value FROM settings WHERE name = ?",
                                        ErrorKind::kStoreRead));
  stmt.bind(std::string(name));
  VMI_TRY(bool row, stmt.step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(stmt.text(0));
}

Status set_setting(Core& core, std::string_view name, std::string_view value) {
  auto guard = core.lock_db();
  VMI_TRY(auto stmt, Statement::prepare(core.db(),
                                        "INSERT INTO settings (name, value) VALUES (?, ?) "
                                        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                                        ErrorKind::kStoreSave));
  stmt.bind(std::string(name)).bind(std::string(value));
  return stmt.run();
}

Status set_content_digest(Core& core, const BlobId& id, std::string_view content_digest) {
  auto guard = core.lock_db();
  VMI_TRY(auto stmt, Statement::prepare(core.db(),
                                        "UPDATE blobs SET content_digest = ? WHERE digest = ? "
                                        "AND fs_type = ?",
                                        ErrorKind::kStoreSave));
  stmt.bind(std::string(content_digest)).bind(id.digest).bind(fs_type_name(id.fs_type));
  return stmt.run();
}

Status record_blob_location(Core& core, std::string_view blob_digest, std::string_view repository) {
  auto guard = core.lock_db();
  VMI_TRY(auto stmt, Statement::prepare(core.db(),
                                        "INSERT INTO blob_locations (blob_digest, repository, "
                                        "seen_at) VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET "
                                        "seen_at = excluded.seen_at",
                                        ErrorKind::kStoreSave));
  stmt.bind(blob_digest).bind(repository).bind(now_ns());
  return stmt.run();
}

Status keep_upload(Core& core, std::string_view repository, std::string_view blob,
                   std::string_view url) {
  auto guard = core.lock_db();
  if (url.empty()) {
    VMI_TRY(auto stmt,
            Statement::prepare(core.db(),
                               "DELETE FROM upload_sessions WHERE repository = ? AND blob = ?",
                               ErrorKind::kStoreSave));
    stmt.bind(repository).bind(blob);
    return stmt.run();
  }
  VMI_TRY(auto stmt, Statement::prepare(core.db(),
                                        "INSERT INTO upload_sessions (repository, blob, url, "
                                        "updated_at) VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE "
                                        "SET url = excluded.url, updated_at = excluded.updated_at",
                                        ErrorKind::kStoreSave));
  stmt.bind(repository).bind(blob).bind(url).bind(now_ns());
  return stmt.run();
}

Result<std::string> kept_upload(Core& core, std::string_view repository, std::string_view blob) {
  auto guard = core.lock_db();
  VMI_TRY(auto stmt, Statement::prepare(core.db(),
                                        "SELECT url FROM upload_sessions WHERE repository = ? "
                                        "AND blob = ?",
                                        ErrorKind::kStoreRead));
  stmt.bind(repository).bind(blob);
  VMI_TRY(bool row, stmt.step());
  return row ? stmt.text(0) : std::string();
}

Result<std::vector<std::string>> blob_locations(Core& core, std::string_view blob_digest) {
  auto guard = core.lock_db();
  VMI_TRY(auto stmt, Statement::prepare(core.db(),
                                        "SELECT repository FROM blob_locations WHERE "
                                        "blob_digest = ? ORDER BY seen_at DESC",
                                        ErrorKind::kStoreRead));
  stmt.bind(blob_digest);
  std::vector<std::string> out;
  for (;;) {
    VMI_TRY(bool row, stmt.step());
    if (!row) break;
    out.push_back(stmt.text(0));
  }
  return out;
}

}  // namespace vmimage::store_detail
