// The store's on-disk layout (docs/store.md): blob file names derived from a
// digest and fs type, temp-file names that say which blob they will become,
// and the directories under the cache root.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "vmimage/result.h"
#include "vmimage/types.h"

namespace vmimage::store_detail {

struct BlobId {
  std::string digest;  // "sha256:<hex>"
  FsType fs_type = FsType::kErofs;
};

// "sha256:<64 hex>" or "sha512:<128 hex>", lower case.
bool valid_digest(std::string_view digest);

// "sha256_<hex>.erofs"; an error (kStoreSave) for a malformed digest.
Result<std::string> blob_file_name(std::string_view digest, FsType fs_type);
std::optional<BlobId> parse_blob_file_name(std::string_view name);

// `bytes` random bytes from the kernel, in hex.
std::string random_hex(size_t bytes);

// A blob in production: "<lease id>.<blob file name>.<random>.tmp" in tmp/. The
// file belongs to the lease, not to the key it is named after: a producer may
// commit it under a key it learns later (BlobWriter::adopt), and gc keeps every file
// of a live lease whatever key it ends under. Scratch files a producer makes
// beside it (e.g. "<temp name>.ext4") start with the same lease id.
std::string temp_file_name(const std::string& lease_id, const std::string& blob_file_name);
// A blob whose key is not known yet: "<lease id>.scratch.<random>.tmp".
std::string scratch_file_name(const std::string& lease_id);
// The lease id a tmp/ file name starts with, if it has one.
std::optional<std::string> temp_file_lease(std::string_view name);
// Names written before temp files carried a lease id: "<blob file name>.<random>.tmp".
std::optional<BlobId> parse_legacy_temp_file_name(std::string_view name);

struct StorePaths {
  explicit StorePaths(std::string root_dir);

  std::string root;
  std::string blobs;   // committed blobs
  std::string tmp;     // blobs being written (same filesystem, for rename)
  std::string locks;   // per-blob lock files
  std::string leases;  // one lock file per live lease
  std::string db;      // SQLite metadata

  std::string blob_path(const std::string& file_name) const { return blobs + "/" + file_name; }
  std::string blob_lock_path(const std::string& file_name) const {
    return locks + "/" + file_name + ".lock";
  }
  std::string lease_lock_path(const std::string& lease_id) const {
    return leases + "/" + lease_id + ".lock";
  }
};

}  // namespace vmimage::store_detail
