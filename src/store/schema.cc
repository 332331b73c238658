// Schema migrations (see schema.h and docs/store.md for the tables' meaning).
#include "store/schema.h"

#include <string>

namespace vmimage::store_detail {
namespace {

// Version 1: blobs, images (per scope) and their ordered layers. Reference
// counts are derived (blob_refcounts), so they can never drift from the rows.
constexpr const char* kMigration1 = R"sql(
CREATE TABLE blobs (
  digest      TEXT NOT NULL,
  fs_type     TEXT NOT NULL CHECK (fs_type IN ('erofs', 'ext4')),
  size        INTEGER NOT NULL CHECK (size >= 0),
  file_sha256 TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (digest, fs_type)
) WITHOUT ROWID;

CREATE TABLE images (
  id         INTEGER PRIMARY KEY,
  scope      TEXT NOT NULL CHECK (scope IN ('local', 'registry')),
  tag        TEXT NOT NULL,
  digest     TEXT NOT NULL,
  size       INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  source     TEXT NOT NULL CHECK (source IN ('registry', 'import', 'tag')),
  oci_json   TEXT NOT NULL,
  UNIQUE (scope, tag)
);

CREATE TABLE image_layers (
  image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
  role     TEXT NOT NULL CHECK (role IN ('canonical', 'runtime')),
  position INTEGER NOT NULL,
  digest   TEXT NOT NULL,
  fs_type  TEXT NOT NULL,
  PRIMARY KEY (image_id, role, position),
  FOREIGN KEY (digest, fs_type) REFERENCES blobs(digest, fs_type)
);
CREATE INDEX image_layers_by_blob ON image_layers(digest, fs_type);

CREATE VIEW blob_refcounts AS
  SELECT b.digest, b.fs_type,
         (SELECT COUNT(DISTINCT l.image_id) FROM image_layers l
           WHERE l.digest = b.digest AND l.fs_type = b.fs_type) AS refcount
    FROM blobs b;
)sql";

// Version 2: leases. A process that writes or reuses blobs for an image it has
// not saved yet holds a lease; gc keeps every blob a live lease names.
constexpr const char* kMigration2 = R"sql(
CREATE TABLE leases (
  id         TEXT PRIMARY KEY,
  pid        INTEGER NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE lease_blobs (
  lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
  digest   TEXT NOT NULL,
  fs_type  TEXT NOT NULL,
  PRIMARY KEY (lease_id, digest, fs_type),
  FOREIGN KEY (digest, fs_type) REFERENCES blobs(digest, fs_type)
) WITHOUT ROWID;
CREATE INDEX lease_blobs_by_blob ON lease_blobs(digest, fs_type);
)sql";

// Version 3: a blob's file checksum names its algorithm ("xxh3-128x4m:<hex>",
// earlier "xxh3-128:<hex>"; rows written before keep their "sha256:<hex>"), and
// verify checks each with the algorithm its prefix names.
constexpr const char* kMigration3 = R"sql(
ALTER TABLE blobs RENAME COLUMN file_sha256 TO file_checksum;
)sql";

// Version 4: an image keeps its config document as the source gave it and the
// digest of the index its manifest was chosen from ('' for images recorded
// before, and for none): what `push` publishes with the converted layers.
constexpr const char* kMigration4 = R"sql(
ALTER TABLE images ADD COLUMN config TEXT NOT NULL DEFAULT '';
ALTER TABLE images ADD COLUMN index_digest TEXT NOT NULL DEFAULT '';
)sql";

// Version 5: where a blob came from ('converted' here from a tar, or written
// here from other blobs; 'pulled': an EROFS layer stored as a registry gave
// it), and its sha256 when known ('' until then): the digest it has in a
// registry, recorded by a pull, or by the first push that hashed it. And the
// registry repositories known to hold a registry blob (pulled from, pushed
// to), where a push into another repository of the same registry can mount
// it from instead of uploading it.
constexpr const char* kMigration5 = R"sql(
ALTER TABLE blobs ADD COLUMN origin TEXT NOT NULL DEFAULT 'converted';
ALTER TABLE blobs ADD COLUMN content_digest TEXT NOT NULL DEFAULT '';
CREATE TABLE blob_locations (
  blob_digest TEXT NOT NULL,
  repository  TEXT NOT NULL,
  seen_at     INTEGER NOT NULL,
  PRIMARY KEY (blob_digest, repository)
) WITHOUT ROWID;
)sql";

// Version 6: a blob's dm-verity tree ('' / 0 when it has none): root hash and
// salt (hex), the bytes it covers and where its superblock starts.
constexpr const char* kMigration6 = R"sql(
ALTER TABLE blobs ADD COLUMN verity_root_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE blobs ADD COLUMN verity_salt TEXT NOT NULL DEFAULT '';
ALTER TABLE blobs ADD COLUMN verity_data_size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE blobs ADD COLUMN verity_hash_offset INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 7: store-wide settings ("default_verity": "1" or "0").
constexpr const char* kMigration7 = R"sql(
CREATE TABLE settings (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
)sql";

// Version 8: blob uploads a push left part way (killed, or out of retries),
// where the next push of the same bytes to the same repository goes on: the
// upload session's URL as the registry last gave it. `blob` names the bytes:
// their digest when known, else the store blob they are ("store:KEY/FS").
// And the platform of the index entry an image was chosen by ('' when it was
// not chosen from an index, or stored before).
constexpr const char* kMigration8 = R"sql(
ALTER TABLE images ADD COLUMN platform TEXT NOT NULL DEFAULT '';
CREATE TABLE upload_sessions (
  repository TEXT NOT NULL,
  blob       TEXT NOT NULL,
  url        TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (repository, blob)
) WITHOUT ROWID;
)sql";

constexpr const char* kMigrations[] = {kMigration1, kMigration2, kMigration3, kMigration4,
                                       kMigration5, kMigration6, kMigration7, kMigration8};
static_assert(std::size(kMigrations) == kSchemaVersion);

}  // namespace

Result<int> schema_version(Db& db) {
  VMI_TRY(auto stmt, Statement::prepare(db, "PRAGMA user_version", ErrorKind::kMetadata));
  VMI_TRY(bool row, stmt.step());
  if (!row) return Error(ErrorKind::kMetadata, "reading the schema version of " + db.path());
  return static_cast<int>(stmt.integer(0));
}

Status migrate(Db& db, int target) {
  VMI_TRY(int version, schema_version(db));
  if (version == target) return {};
  VMI_TRY(auto txn, Transaction::begin(db, ErrorKind::kMetadata));
  VMI_TRY(version, schema_version(db));
  if (version > kSchemaVersion) {
    return Error(ErrorKind::kMetadata, db.path() + " has schema version " +
                                           std::to_string(version) +
                                           ", newer than this vmimage understands (" +
                                           std::to_string(kSchemaVersion) + "); upgrade vmimage");
  }
  for (int next = version + 1; next <= target; ++next) {
    Status applied = db.exec(kMigrations[next - 1], ErrorKind::kMetadata);
    if (!applied.ok()) {
      return std::move(applied).error().context("migrating " + db.path() + " to schema version " +
                                                std::to_string(next));
    }
  }
  if (version < target) {
    VMI_CHECK(db.exec("PRAGMA user_version = " + std::to_string(target), ErrorKind::kMetadata));
  }
  return txn.commit();
}

}  // namespace vmimage::store_detail
