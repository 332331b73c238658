// Archive contents: the bounded in-memory document store and blob records of a
// streamed tar, and the on-demand directory equivalent.
#include "source/archive/contents.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <cstring>

#include "io/sha256.h"

namespace vmimage::archive {
namespace {

constexpr size_t kSniffBytes = 512;
constexpr int kMaxLinkHops = 32;

uint8_t byte_at(std::span<const std::byte> head, size_t i) {
  return std::to_integer<uint8_t>(head[i]);
}

// The header checksum of a tar block (POSIX ustar, also v7 and GNU): the sum of
// all bytes with the checksum field counted as spaces, stored as octal.
bool valid_tar_checksum(std::span<const std::byte> block) {
  int64_t stored = 0;
  bool digits = false;
  for (size_t i = 148; i < 156; ++i) {
    uint8_t c = byte_at(block, i);
    if (c >= '0' && c <= '7') {
      stored = stored * 8 + (c - '0');
      digits = true;
    } else if (c == ' ' || c == 0) {
      if (digits) break;
    } else {
      return false;
    }
  }
  if (!digits) return false;
  int64_t sum_unsigned = 0;
  int64_t sum_signed = 0;
  for (size_t i = 0; i < 512; ++i) {
    uint8_t c = (i >= 148 && i < 156) ? ' ' : byte_at(block, i);
    sum_unsigned += c;
    sum_signed += static_cast<int8_t>(c);
  }
  return stored == sum_unsigned || stored == sum_signed;
}

std::string parent_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

Error missing_member(const std::string& path) {
  return Error(ErrorKind::kTarball, "the archive has no file " + path);
}

}  // namespace

std::optional<std::string> normalize_member_path(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    start = end + 1;
  }
  std::string out;
  for (std::string_view part : parts) {
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

io::Compression sniff_compression(std::span<const std::byte> head) {
  if (head.size() >= 2 && byte_at(head, 0) == 0x1f && byte_at(head, 1) == 0x8b) {
    return io::Compression::kGzip;
  }
  if (head.size() >= 4 && byte_at(head, 0) == 0x28 && byte_at(head, 1) == 0xb5 &&
      byte_at(head, 2) == 0x2f && byte_at(head, 3) == 0xfd) {
    return io::Compression::kZstd;
  }
  return io::Compression::kNone;
}

bool looks_like_layer(std::span<const std::byte> head) {
  if (sniff_compression(head) != io::Compression::kNone) return true;
  if (head.size() < 512) return false;
  std::span<const std::byte> block = head.first(512);
  bool all_zero = true;
  for (std::byte b : block) all_zero = all_zero && b == std::byte{0};
  return all_zero || valid_tar_checksum(block);
}

Result<StoredBlob> convert_stream(BlobHandler& handler, const std::string& path, io::Reader& stream,
                                  io::Compression compression) {
  io::HashingReader hashing(std::make_unique<BorrowedReader>(stream), path);
  auto converted = handler.on_blob(path, hashing);
  Status drained = io::drain(hashing);
  if (!drained.ok()) return std::move(drained).error().context("reading " + path);
  StoredBlob blob{path, {}, hashing.digest(), hashing.bytes(), compression, std::nullopt};
  if (converted.ok()) {
    blob.converted = std::move(converted).value();
  } else {
    blob.failure = std::move(converted).error().context("converting " + path);
  }
  return blob;
}

// ---- TarContents ----

Status TarContents::add_member(const TarMember& member, MemberReader& data) {
  std::optional<std::string> path = normalize_member_path(member.path);
  if (!path || path->empty()) return {};  // outside the archive root: nothing refers to it
  switch (member.type) {
    case MemberType::kFile:
      return add_file(*path, member.size, data);
    case MemberType::kSymlink: {
      std::string base = member.link_target.starts_with('/') ? "" : parent_of(*path);
      std::optional<std::string> target = normalize_member_path(base + "/" + member.link_target);
      forget(*path);
      if (target) links_[*path] = *target;
      return {};
    }
    case MemberType::kHardlink: {
      std::optional<std::string> target = normalize_member_path(member.link_target);
      forget(*path);
      if (target) links_[*path] = *target;
      return {};
    }
    case MemberType::kOther:
      return {};
  }
  return {};
}

// A later member with the same path replaces an earlier one, as when extracting.
void TarContents::forget(const std::string& path) {
  if (auto it = documents_.find(path); it != documents_.end()) {
    document_bytes_ -= it->second.size();
    documents_.erase(it);
  }
  blob_index_.erase(path);
  links_.erase(path);
}

Status TarContents::add_file(const std::string& path, int64_t size, MemberReader& data) {
  forget(path);
  io::PeekReader peek(std::make_unique<BorrowedReader>(data));
  VMI_TRY(auto head, peek.peek(kSniffBytes));
  bool small = size >= 0 && static_cast<uint64_t>(size) <= options_.max_document_bytes;
  if (!looks_like_layer(head) && small) return keep_document(path, peek, size);
  // Layer-like, or too big to be a document: the handler judges it; a failure
  // matters only if the chosen image uses this member.
  if (blobs_.size() >= options_.max_blobs) {
    return Error(ErrorKind::kTarball, "the archive holds more than " +
                                          std::to_string(options_.max_blobs) +
                                          " layer blobs (at " + path + "; limit max-archive-blobs)");
  }
  auto stored = convert_stream(handler_, path, peek, sniff_compression(head));
  if (data.broken()) return *data.broken();
  if (!stored.ok()) return std::move(stored).error();
  blob_index_[path] = blobs_.size();
  blobs_.push_back(std::move(stored).value());
  return {};
}

Status TarContents::keep_document(const std::string& path, io::Reader& data, int64_t size) {
  if (document_bytes_ + static_cast<uint64_t>(size) > options_.max_metadata_bytes) {
    return Error(ErrorKind::kTarball, "the archive's non-layer files exceed " +
                                          std::to_string(options_.max_metadata_bytes) +
                                          " bytes in total (at " + path +
                                          "); this does not look like an image archive");
  }
  auto bytes = io::read_all(data, options_.max_document_bytes);
  if (!bytes.ok()) return std::move(bytes).error().context("reading " + path);
  document_bytes_ += bytes->size();
  documents_[path] = std::move(bytes).value();
  return {};
}

Result<std::string> TarContents::resolve_links(const std::string& path) const {
  std::string p = path;
  for (int hop = 0; hop < kMaxLinkHops; ++hop) {
    auto it = links_.find(p);
    if (it == links_.end()) return p;
    p = it->second;
  }
  return Error(ErrorKind::kTarball, "too many levels of links at " + path);
}

bool TarContents::has(const std::string& path) {
  auto real = resolve_links(path);
  return real.ok() && (documents_.count(*real) || blob_index_.count(*real));
}

Result<std::string> TarContents::document(const std::string& path) {
  VMI_TRY(std::string real, resolve_links(path));
  if (auto it = documents_.find(real); it != documents_.end()) return it->second;
  if (blob_index_.count(real)) {
    return Error(ErrorKind::kTarball, path + " is binary data (or larger than " +
                                          std::to_string(options_.max_document_bytes) +
                                          " bytes), not a JSON document");
  }
  return missing_member(path);
}

Result<StoredBlob> TarContents::layer(const std::string& path) {
  VMI_TRY(std::string real, resolve_links(path));
  if (auto it = blob_index_.find(real); it != blob_index_.end()) return blobs_[it->second];
  auto doc = documents_.find(real);
  if (doc == documents_.end()) return missing_member(path);
  // A small member kept in memory turns out to be a layer: convert it now.
  io::MemoryReader memory(doc->second);
  auto head =
      std::as_bytes(std::span(doc->second.data(), std::min(doc->second.size(), kSniffBytes)));
  VMI_TRY(StoredBlob stored, convert_stream(handler_, real, memory, sniff_compression(head)));
  blob_index_[real] = blobs_.size();
  blobs_.push_back(stored);
  return stored;
}


// ---- DirContents ----

Result<std::string> DirContents::file_path(const std::string& path) const {
  std::optional<std::string> norm = normalize_member_path(path);
  if (!norm || norm->empty()) return missing_member(path);
  std::string full = root_ + "/" + *norm;
  char resolved[PATH_MAX];
  if (!::realpath(full.c_str(), resolved)) return missing_member(path);
  char root_resolved[PATH_MAX];
  if (!::realpath(root_.c_str(), root_resolved)) {
    return sys_error(ErrorKind::kTarball, "resolving directory " + root_);
  }
  std::string inside = std::string(root_resolved) + "/";
  if (std::strncmp(resolved, inside.c_str(), inside.size()) != 0) {
    return Error(ErrorKind::kTarball, path + " leads outside " + root_);
  }
  struct stat st;
  if (::stat(resolved, &st) != 0 || !S_ISREG(st.st_mode)) return missing_member(path);
  return std::string(resolved);
}

bool DirContents::has(const std::string& path) {
  return file_path(path).ok();
}

Result<std::string> DirContents::document(const std::string& path) {
  VMI_TRY(std::string file, file_path(path));
  VMI_TRY(auto reader, io::FdReader::open(file));
  auto bytes = io::read_all(*reader, options_.max_document_bytes);
  if (!bytes.ok()) {
    return Error(ErrorKind::kTarball,
                 path + ": " + bytes.error().message() + " (not a JSON document)");
  }
  return std::move(bytes).value();
}

Result<StoredBlob> DirContents::layer(const std::string& path) {
  VMI_TRY(std::string file, file_path(path));
  if (auto it = converted_.find(file); it != converted_.end()) return it->second;
  VMI_TRY(auto reader, io::FdReader::open(file));
  io::PeekReader peek(std::move(reader));
  VMI_TRY(auto head, peek.peek(4));
  VMI_TRY(StoredBlob blob, convert_stream(handler_, path, peek, sniff_compression(head)));
  converted_[file] = blob;
  return blob;
}


}  // namespace vmimage::archive
