// Opening a store: directories, the SQLite connection and its settings, migrations.
#include "store/core.h"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>

#include "store/schema.h"
#include "util/cleanup.h"
#include "util/file.h"
#include "util/utf8.h"

namespace vmimage::store_detail {
namespace {

// How long a writer waits for another process's transaction before giving up.
constexpr int kBusyTimeoutMs = 60'000;

Result<std::string> prepare_root(const std::string& root) {
  for (const std::string& dir :
       {root, root + "/blobs", root + "/tmp", root + "/locks", root + "/leases"}) {
    Status made = make_dirs(dir);
    if (!made.ok()) return std::move(made).error().context("opening the store at " + root);
  }
  char resolved[PATH_MAX];
  if (::realpath(root.c_str(), resolved) == nullptr) {
    return sys_error(ErrorKind::kStoreRead, "resolving the store path " + root);
  }
  return std::string(resolved);
}

// Switching a new database to WAL needs an exclusive lock, and SQLite reports
// SQLITE_BUSY for it without calling the busy handler: processes opening a new
// store at the same moment retry here instead.
Status set_wal_mode(Db& db) {
  for (int waited_ms = 0;; waited_ms += 5) {
    VMI_TRY(auto stmt, Statement::prepare(db, "PRAGMA journal_mode = WAL", ErrorKind::kMetadata));
    auto row = stmt.step();
    if (row.ok() && *row && stmt.text(0) == "wal") return {};
    bool busy = !row.ok() && (sqlite3_errcode(db.handle()) & 0xff) == SQLITE_BUSY;
    if (!busy || waited_ms >= kBusyTimeoutMs) {
      if (!row.ok()) return std::move(row).error();
      return Error(ErrorKind::kMetadata, "cannot switch " + db.path() + " to WAL mode");
    }
    ::usleep(5000);
  }
}

Status configure(Db& db, bool read_only) {
  VMI_CHECK(
      db.exec("PRAGMA busy_timeout = " + std::to_string(kBusyTimeoutMs), ErrorKind::kMetadata));
  VMI_CHECK(db.exec("PRAGMA foreign_keys = ON", ErrorKind::kMetadata));
  if (read_only) return {};
  // WAL: readers never block the writer; FULL: a committed image survives a power loss.
  VMI_CHECK(set_wal_mode(db));
  return db.exec("PRAGMA synchronous = FULL", ErrorKind::kMetadata);
}

bool on_read_only_fs(const std::string& path) {
  struct statvfs fs;
  return ::statvfs(dirname_of(path).c_str(), &fs) == 0 && (fs.f_flag & ST_RDONLY) != 0;
}

Result<Db> open_db(const std::string& path, bool& read_only) {
  read_only = on_read_only_fs(path);
  if (!read_only) {
    VMI_TRY(Db db, Db::open(path, false));
    VMI_CHECK(configure(db, false));
    return db;
  }
  // A store on a read-only filesystem can still be listed, inspected and verified.
  // Transactions left in a WAL would be invisible to an immutable reader.
  struct stat wal;
  if (::stat((path + "-wal").c_str(), &wal) == 0 && wal.st_size > 0) {
    return Error(ErrorKind::kStoreRead, "the store's metadata " + path +
                                            " is on a read-only filesystem with an unfinished "
                                            "write-ahead log; open it read-write once to recover");
  }
  VMI_TRY(Db db, Db::open_immutable(path));
  VMI_CHECK(configure(db, true));
  return db;
}

}  // namespace

std::optional<VerityInfo> verity_columns(const Statement& stmt, int first) {
  std::string root = stmt.text(first);
  if (root.empty()) return std::nullopt;
  VerityInfo v;
  v.root_hash = std::move(root);
  v.salt = stmt.text(first + 1);
  v.data_size = static_cast<uint64_t>(stmt.integer(first + 2));
  v.hash_offset = static_cast<uint64_t>(stmt.integer(first + 3));
  return v;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Result<std::shared_ptr<Core>> Core::open(StoreOptions options) {
  VMI_TRY(std::string root, resolve_cache_root(options.cache_dir));
  // Every path the store hands out starts with the root, and paths go into
  // JSON (inspect, ls): a root that is not UTF-8 could not be reported.
  if (!is_valid_utf8(root)) {
    return Error(ErrorKind::kUsage, "the cache directory \"" + escape_non_utf8(root) +
                                        "\" is not valid UTF-8; choose another with "
                                        "--cache-dir or $VMIMAGE_CACHE_DIR");
  }
  VMI_TRY(root, prepare_root(root));
  StorePaths layout(root);
  bool read_only = false;
  VMI_TRY(Db db, open_db(layout.db, read_only));
  if (read_only) {
    VMI_TRY(int version, schema_version(db));
    if (version != kSchemaVersion) {
      return Error(ErrorKind::kStoreRead,
                   "the store at " + root + " is read-only and its metadata has schema version " +
                       std::to_string(version) + ", not " + std::to_string(kSchemaVersion));
    }
  } else {
    VMI_CHECK(migrate(db));
  }
  return std::shared_ptr<Core>(
      new Core(std::move(layout), std::move(db), read_only, std::move(options.on_step)));
}

WriterState::~WriterState() {
  if (!temp_path.empty()) ::unlink(temp_path.c_str());
  unregister_cleanup(cleanup_slot);
}

}  // namespace vmimage::store_detail
