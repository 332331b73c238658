// Store layout: names, keys and cache-root resolution (see layout.h, docs/store.md).
#include "store/layout.h"

#include <pwd.h>
#include <sys/random.h>
#include <unistd.h>

#include <cstdlib>

#include "io/sha256.h"
#include "vmimage/store.h"

namespace vmimage {
namespace store_detail {
namespace {

bool is_lower_hex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Splits "sha256_<hex>" (the file-name form of a digest) back into a digest.
std::optional<std::string> digest_from_file_stem(std::string_view stem) {
  auto underscore = stem.find('_');
  if (underscore == std::string_view::npos) return std::nullopt;
  std::string digest =
      std::string(stem.substr(0, underscore)) + ":" + std::string(stem.substr(underscore + 1));
  if (!valid_digest(digest)) return std::nullopt;
  return digest;
}

}  // namespace

bool valid_digest(std::string_view digest) {
  auto colon = digest.find(':');
  if (colon == std::string_view::npos) return false;
  std::string_view algorithm = digest.substr(0, colon);
  std::string_view hex = digest.substr(colon + 1);
  size_t want = algorithm == "sha256" ? 64 : algorithm == "sha512" ? 128 : 0;
  return want != 0 && hex.size() == want && is_lower_hex(hex);
}

Result<std::string> blob_file_name(std::string_view digest, FsType fs_type) {
  if (!valid_digest(digest)) {
    return Error(ErrorKind::kStoreSave,
                 "invalid blob digest \"" + std::string(digest) + "\" (want sha256:<64 hex>)");
  }
  std::string name(digest);
  name[name.find(':')] = '_';
  name += '.';
  name += fs_type_name(fs_type);
  return name;
}

std::optional<BlobId> parse_blob_file_name(std::string_view name) {
  auto dot = name.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  auto fs_type = parse_fs_type(name.substr(dot + 1));
  auto digest = digest_from_file_stem(name.substr(0, dot));
  if (!fs_type || !digest) return std::nullopt;
  return BlobId{*digest, *fs_type};
}

std::string random_hex(size_t bytes) {
  // getrandom each time, not a seeded PRNG: forked processes must not share names.
  std::string raw(bytes, '\0');
  size_t got = 0;
  while (got < bytes) {
    ssize_t n = ::getrandom(raw.data() + got, bytes - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char c : raw) {
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  return hex;
}

std::string temp_file_name(const std::string& lease_id, const std::string& blob_file_name) {
  return lease_id + "." + blob_file_name + "." + random_hex(8) + ".tmp";
}

std::string scratch_file_name(const std::string& lease_id) {
  return lease_id + ".scratch." + random_hex(8) + ".tmp";
}

std::optional<std::string> temp_file_lease(std::string_view name) {
  constexpr size_t kLeaseIdLength = 32;  // random_hex(16)
  if (name.size() <= kLeaseIdLength || name[kLeaseIdLength] != '.') return std::nullopt;
  std::string_view id = name.substr(0, kLeaseIdLength);
  if (!is_lower_hex(id)) return std::nullopt;
  return std::string(id);
}

std::optional<BlobId> parse_legacy_temp_file_name(std::string_view name) {
  constexpr std::string_view kSuffix = ".tmp";
  if (name.size() < kSuffix.size() || name.substr(name.size() - kSuffix.size()) != kSuffix) {
    return std::nullopt;
  }
  name.remove_suffix(kSuffix.size());
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos) return std::nullopt;
  return parse_blob_file_name(name.substr(0, dot));
}

StorePaths::StorePaths(std::string root_dir)
    : root(std::move(root_dir)),
      blobs(root + "/blobs"),
      tmp(root + "/tmp"),
      locks(root + "/locks"),
      leases(root + "/leases"),
      db(root + "/store.db") {}

}  // namespace store_detail

namespace {

std::string absolute(std::string path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[4096];
  if (::getcwd(cwd, sizeof cwd) == nullptr) return path;
  return std::string(cwd) + "/" + path;
}

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

}  // namespace

Result<std::string> resolve_cache_root(std::string_view explicit_dir) {
  if (!explicit_dir.empty()) return absolute(std::string(explicit_dir));
  if (std::string dir = env("VMIMAGE_CACHE_DIR"); !dir.empty()) return absolute(dir);
  // The XDG base-directory spec says relative values are invalid and ignored.
  if (std::string xdg = env("XDG_CACHE_HOME"); !xdg.empty() && xdg[0] == '/') {
    return xdg + "/vmimage";
  }
  std::string home = env("HOME");
  if (home.empty()) {
    if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr) {
      home = pw->pw_dir;
    }
  }
  if (home.empty()) {
    return Error(ErrorKind::kStoreRead,
                 "no cache directory: pass --cache-dir or set VMIMAGE_CACHE_DIR (HOME is unset)");
  }
  return absolute(home) + "/.cache/vmimage";
}

std::string squashed_blob_key(std::span<const std::string> diff_ids, FsType fs_type) {
  io::Sha256 hash;
  hash.update("vmimage-squash-v1\n");
  hash.update(fs_type_name(fs_type));
  hash.update("\n");
  for (const std::string& diff_id : diff_ids) {
    hash.update(diff_id);
    hash.update("\n");
  }
  return hash.finish_digest();
}

}  // namespace vmimage
