// What an image archive holds, as the resolver sees it: small documents by path
// and layer blobs by path (converted by the BlobHandler). TarContents collects a
// streamed tar; DirContents reads a directory on demand.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "source/archive/archive.h"
#include "source/archive/tar_walk.h"

namespace vmimage::archive {

using io::BorrowedReader;


// A blob as the handler converted it, with what the walker measured itself.
struct StoredBlob {
  std::string path;  // the member the bytes came from (after links)
  ConvertedBlob converted;
  std::string digest;  // sha256 of the bytes as stored
  uint64_t size = 0;
  io::Compression compression = io::Compression::kNone;
  // The handler's error, when it could not convert the bytes (which were read
  // and hashed completely all the same).
  std::optional<Error> failure;
};

// Normalizes an archive path: no leading "./" or "/", no "." or empty parts,
// ".." folded; nullopt when it escapes the root.
std::optional<std::string> normalize_member_path(std::string_view path);

class Contents {
 public:
  virtual ~Contents() = default;
  // Whether `path` (normalized, links followed) names a regular member.
  virtual bool has(const std::string& path) = 0;
  // The bytes of a small member. kTarball errors for a missing member or one
  // that was streamed to the handler as a blob.
  virtual Result<std::string> document(const std::string& path) = 0;
  // The blob at `path`, converting it now if it has not been yet. A handler
  // failure is in StoredBlob::failure, so its digest can still be checked first.
  virtual Result<StoredBlob> layer(const std::string& path) = 0;
};

// Collects a tar stream member by member: documents in memory (bounded),
// layer-like members straight to the handler.
class TarContents : public Contents {
 public:
  TarContents(BlobHandler& handler, const ImportOptions& options)
      : handler_(handler), options_(options) {}

  // The walk_tar callback.
  Status add_member(const TarMember& member, MemberReader& data);

  bool has(const std::string& path) override;
  Result<std::string> document(const std::string& path) override;
  Result<StoredBlob> layer(const std::string& path) override;

 private:
  Status add_file(const std::string& path, int64_t size, MemberReader& data);
  Status keep_document(const std::string& path, io::Reader& data, int64_t size);
  Result<std::string> resolve_links(const std::string& path) const;
  void forget(const std::string& path);

  BlobHandler& handler_;
  const ImportOptions& options_;
  std::map<std::string, std::string> documents_;
  size_t document_bytes_ = 0;
  std::vector<StoredBlob> blobs_;             // every conversion, even replaced ones
  std::map<std::string, size_t> blob_index_;  // path -> latest record in blobs_
  std::map<std::string, std::string> links_;  // path -> normalized target
};

// A directory: an OCI layout or an unpacked docker save. Files are read when
// the resolver asks for them; a layer is converted the first time it is asked for.
class DirContents : public Contents {
 public:
  DirContents(std::string root, BlobHandler& handler, const ImportOptions& options)
      : root_(std::move(root)), handler_(handler), options_(options) {}

  bool has(const std::string& path) override;
  Result<std::string> document(const std::string& path) override;
  Result<StoredBlob> layer(const std::string& path) override;

 private:
  Result<std::string> file_path(const std::string& path) const;

  std::string root_;
  BlobHandler& handler_;
  const ImportOptions& options_;
  std::map<std::string, StoredBlob> converted_;
};

// Converts one stream through the handler, hashing it, and drains what the
// handler left unread so the digest covers every byte. Only a failure to read
// `stream` is an error; the handler's own is recorded in the result.
Result<StoredBlob> convert_stream(BlobHandler& handler, const std::string& path, io::Reader& stream,
                                  io::Compression compression);

// Compression by magic bytes, and whether the head of a member looks like a
// layer: gzip, zstd, a tar header with a valid checksum, or a zero tar block.
io::Compression sniff_compression(std::span<const std::byte> head);
bool looks_like_layer(std::span<const std::byte> head);

}  // namespace vmimage::archive
