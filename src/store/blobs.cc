// The blob write protocol (docs/store.md): lock the blob, reuse it if the store
// has it, else write tmp/<name>.<random>.tmp, fsync, hash, rename into blobs/,
// and record it (with the lease that protects it from gc) in one transaction.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <thread>
#include <vector>

#include "io/checksum.h"
#include "store/core.h"
#include "util/cleanup.h"
#include "util/file.h"

namespace vmimage::store_detail {
namespace {

Error save_error(std::string what) {
  return sys_error(ErrorKind::kStoreSave, std::move(what));
}

// The blob's record when the store has it and its file looks whole.
Result<std::optional<LayerRef>> usable_blob(Core& core, const BlobId& id, const std::string& path) {
  VMI_TRY(auto stmt, Statement::prepare(core.db(),
                                        std::string("SELECT b.size, ") + kVerityColumns +
                                            " FROM blobs b WHERE digest = ? AND fs_type = ?",
                                        ErrorKind::kStoreSave));
  stmt.bind(id.digest).bind(fs_type_name(id.fs_type));
  VMI_TRY(bool row, stmt.step());
  if (!row) return std::optional<LayerRef>();
  uint64_t size = static_cast<uint64_t>(stmt.integer(0));
  struct stat st;
  // A missing or truncated file (deleted by hand, a damaged disk) is produced again.
  if (::stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) != size) {
    return std::optional<LayerRef>();
  }
  return std::optional<LayerRef>(LayerRef{id.digest, id.fs_type, size, path, verity_columns(stmt, 1)});
}

Status add_to_lease(Db& db, const std::string& lease_id, const BlobId& id) {
  VMI_TRY(auto stmt, Statement::prepare(db,
                                        "INSERT OR IGNORE INTO lease_blobs (lease_id, digest, "
                                        "fs_type) VALUES (?, ?, ?)",
                                        ErrorKind::kStoreSave));
  stmt.bind(lease_id).bind(id.digest).bind(fs_type_name(id.fs_type));
  return stmt.run();
}

// Leases the blob if the store has it. The caller holds the blob's lock, so
// gc (which needs that lock to delete) cannot remove it in between.
Result<std::optional<LayerRef>> lease_existing(Core& core, const LeaseState& lease,
                                               const BlobId& id, const std::string& path) {
  auto guard = core.lock_db();
  VMI_TRY(auto txn, Transaction::begin(core.db(), ErrorKind::kStoreSave));
  VMI_TRY(auto ref, usable_blob(core, id, path));
  if (!ref) return ref;
  VMI_CHECK(add_to_lease(core.db(), lease.id, id));
  VMI_CHECK(txn.commit());
  return ref;
}

Status record_blob(Core& core, const WriterState& w, uint64_t size, const std::string& checksum) {
  auto guard = core.lock_db();
  Db& db = core.db();
  VMI_TRY(auto txn, Transaction::begin(db, ErrorKind::kStoreSave));
  VMI_TRY(auto stmt,
          Statement::prepare(db,
                             "INSERT INTO blobs (digest, fs_type, size, file_checksum, created_at, "
                             "origin, content_digest, verity_root_hash, verity_salt, "
                             "verity_data_size, verity_hash_offset) "
                             "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                             "ON CONFLICT (digest, fs_type) DO UPDATE SET "
                             "size = excluded.size, file_checksum = excluded.file_checksum, "
                             "created_at = excluded.created_at, origin = excluded.origin, "
                             "content_digest = excluded.content_digest, "
                             "verity_root_hash = excluded.verity_root_hash, "
                             "verity_salt = excluded.verity_salt, "
                             "verity_data_size = excluded.verity_data_size, "
                             "verity_hash_offset = excluded.verity_hash_offset",
                             ErrorKind::kStoreSave));
  stmt.bind(w.id.digest).bind(fs_type_name(w.id.fs_type)).bind(static_cast<int64_t>(size));
  stmt.bind(checksum).bind(now_ns()).bind(std::string(blob_origin_name(w.origin)));
  stmt.bind(w.content_digest);
  VerityInfo none;
  const VerityInfo& v = w.verity ? *w.verity : none;
  stmt.bind(v.root_hash).bind(v.salt).bind(static_cast<int64_t>(v.data_size));
  stmt.bind(static_cast<int64_t>(v.hash_offset));
  VMI_CHECK(stmt.run());
  VMI_CHECK(add_to_lease(db, w.lease->id, w.id));
  return txn.commit();
}

// fsync, checksum and make the file read-only: the blob is final before anyone can see it.
// The checksum reads the page cache while fsync waits for the disk.
Result<std::pair<uint64_t, std::string>> seal(WriterState& w) {
  std::optional<Result<std::string>> checksum;
  std::thread checksummer([&] {
    checksum = io::file_checksum(w.fd.get(), w.temp_path, ErrorKind::kStoreSave);
  });
  int synced = ::fsync(w.fd.get());
  int sync_errno = errno;
  checksummer.join();
  if (synced != 0) {
    errno = sync_errno;
    return save_error("syncing " + w.temp_path);
  }
  if (!checksum->ok()) return std::move(*checksum).error();
  struct stat st;
  if (::fstat(w.fd.get(), &st) != 0) return save_error("stat " + w.temp_path);
  if (::fchmod(w.fd.get(), 0444) != 0) return save_error("chmod " + w.temp_path);
  return std::pair<uint64_t, std::string>(static_cast<uint64_t>(st.st_size), **checksum);
}

}  // namespace

Result<bool> has_blob(Core& core, std::string_view digest, FsType fs_type) {
  VMI_TRY(std::string name, blob_file_name(digest, fs_type));
  auto guard = core.lock_db();
  VMI_TRY(auto size, usable_blob(core, BlobId{std::string(digest), fs_type},
                                 core.layout().blob_path(name)));
  return size.has_value();
}

Result<std::shared_ptr<LeaseState>> create_lease(const std::shared_ptr<Core>& core) {
  auto lease = std::make_shared<LeaseState>();
  lease->core = core;
  // The lock file exists and is held before the row does: gc takes a lease
  // whose file it can lock (or that has no file) for the lease of a dead
  // process. A gc probing a new lock file between its creation and its
  // locking holds it for a moment: then another id.
  for (int attempt = 0; !lease->lock.held(); ++attempt) {
    if (attempt == 8) return Error(ErrorKind::kStoreSave, "no lease lock could be taken");
    lease->id = random_hex(16);
    VMI_TRY(lease->lock, FileLock::acquire(core->layout().lease_lock_path(lease->id), false));
  }
  auto guard = core->lock_db();
  VMI_TRY(auto stmt, Statement::prepare(core->db(),
                                        "INSERT INTO leases (id, pid, created_at) VALUES (?, ?, ?)",
                                        ErrorKind::kStoreSave));
  stmt.bind(lease->id).bind(static_cast<int64_t>(::getpid())).bind(now_ns());
  VMI_CHECK(stmt.run());
  return lease;
}

Status release_lease(LeaseState& lease) {
  if (lease.released) return {};
  lease.released = true;
  Status deleted;
  {
    auto guard = lease.core->lock_db();
    auto stmt = Statement::prepare(lease.core->db(), "DELETE FROM leases WHERE id = ?",
                                   ErrorKind::kStoreSave);
    deleted = stmt.ok() ? stmt->bind(lease.id).run() : Status(stmt.error());
  }
  // Unlocking even when the row could not be deleted: gc then reaps it as dead.
  lease.lock.release();
  return deleted;
}

Result<std::unique_ptr<WriterState>> begin_blob(const std::shared_ptr<LeaseState>& lease,
                                                std::string_view digest, FsType fs_type) {
  if (lease->released) return Error(ErrorKind::kStoreSave, "begin_blob on a released lease");
  Core& core = *lease->core;
  auto w = std::make_unique<WriterState>();
  w->core = lease->core;
  w->lease = lease;
  w->id = BlobId{std::string(digest), fs_type};
  VMI_TRY(w->file_name, blob_file_name(digest, fs_type));
  std::string final_path = core.layout().blob_path(w->file_name);
  VMI_TRY(w->lock, FileLock::acquire(core.layout().blob_lock_path(w->file_name), true));
  VMI_TRY(w->existing, lease_existing(core, *lease, w->id, final_path));
  if (w->existing) {
    w->lock.release();
    return w;
  }
  std::string temp = core.layout().tmp + "/" + temp_file_name(lease->id, w->file_name);
  w->fd.reset(::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!w->fd.valid()) return save_error("creating " + temp);
  w->cleanup_slot = register_cleanup(temp);
  w->temp_path = temp;
  return w;
}

Result<std::unique_ptr<WriterState>> begin_scratch_blob(const std::shared_ptr<LeaseState>& lease) {
  if (lease->released) return Error(ErrorKind::kStoreSave, "begin_scratch_blob on a released lease");
  auto w = std::make_unique<WriterState>();
  w->core = lease->core;
  w->lease = lease;
  w->scratch = true;
  std::string temp = lease->core->layout().tmp + "/" + scratch_file_name(lease->id);
  w->fd.reset(::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!w->fd.valid()) return save_error("creating " + temp);
  w->cleanup_slot = register_cleanup(temp);
  w->temp_path = temp;
  return w;
}

Result<LayerRef> commit_blob(WriterState& w) {
  if (w.existing) return *w.existing;
  if (w.scratch) return Error(ErrorKind::kInternal, "commit of a scratch blob, which has no key");
  if (!w.fd.valid()) return Error(ErrorKind::kStoreSave, "commit of a finished blob writer");
  if (w.lease->released) {
    return Error(ErrorKind::kStoreSave,
                 "lease released before blob " + w.id.digest + " was committed");
  }
  Core& core = *w.core;
  core.step(StoreStep::kBlobWritten);
  VMI_TRY(auto sealed, seal(w));
  std::string final_path = core.layout().blob_path(w.file_name);
  if (::rename(w.temp_path.c_str(), final_path.c_str()) != 0) {
    return save_error("renaming " + w.temp_path + " to " + final_path);
  }
  w.temp_path.clear();
  unregister_cleanup(std::exchange(w.cleanup_slot, -1));
  w.fd.reset();
  Status synced = fsync_dir_of(final_path);
  core.step(StoreStep::kBlobRenamed);
  Status recorded = synced.ok() ? record_blob(core, w, sealed.first, sealed.second) : synced;
  if (!recorded.ok()) {
    // Still under the blob's lock: take the file back out, so no file is left
    // that the metadata does not describe.
    ::unlink(final_path.c_str());
    Error e = std::move(recorded).error();
    return Error(ErrorKind::kStoreSave, "recording blob " + w.id.digest + ": " + e.message(),
                 e.sys_errno());
  }
  w.lock.release();
  return LayerRef{w.id.digest, w.id.fs_type, sealed.first, final_path, w.verity};
}

}  // namespace vmimage::store_detail
