// The metadata schema and its versioned migrations (PRAGMA user_version):
// migration N takes a database from version N-1 to N, in one transaction.
#pragma once

#include "store/sqlite.h"

namespace vmimage::store_detail {

constexpr int kSchemaVersion = 8;

Result<int> schema_version(Db& db);
// Brings the database up to `target`. Several processes may open a new store at
// once: the version is re-read inside the write transaction, so each migration
// runs once. A database newer than this build is refused (kMetadata).
Status migrate(Db& db, int target = kSchemaVersion);

}  // namespace vmimage::store_detail
