// libarchive-backed walk of an uncompressed tar stream; see tar_walk.h.
#include "source/archive/tar_walk.h"

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <vector>

namespace vmimage::archive {
namespace {

constexpr size_t kReadBlock = 256 * 1024;

struct StreamState {
  io::Reader* reader;
  std::vector<std::byte> buf = std::vector<std::byte>(kReadBlock);
  std::optional<Error> error;  // the reader's own error, richer than libarchive's text
};

la_ssize_t read_callback(struct archive* a, void* client, const void** out) {
  auto* state = static_cast<StreamState*>(client);
  auto n = state->reader->read(state->buf);
  if (!n.ok()) {
    state->error = n.error();
    archive_set_error(a, EIO, "%s", n.error().message().c_str());
    return -1;
  }
  *out = state->buf.data();
  return static_cast<la_ssize_t>(*n);
}

struct ArchiveDeleter {
  void operator()(struct archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<struct archive, ArchiveDeleter>;

// The most specific description of a libarchive failure: the reader's error
// when the bytes could not be read at all, else libarchive's message.
Error archive_failure(struct archive* a, const StreamState& state, const std::string& what) {
  // The reader's own error already names the stream; "not a tar" would mislead.
  if (state.error) {
    if (state.error->kind() == ErrorKind::kCancelled) return *state.error;
    return Error(ErrorKind::kTarball, state.error->message(), state.error->sys_errno());
  }
  const char* msg = archive_error_string(a);
  return Error(ErrorKind::kTarball, what + ": " + (msg ? msg : "unknown libarchive error"));
}

TarMember describe_entry(struct archive_entry* entry) {
  TarMember m;
  const char* path = archive_entry_pathname(entry);
  m.path = path ? path : "";
  m.size = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : 0;
  if (const char* hard = archive_entry_hardlink(entry)) {
    m.type = MemberType::kHardlink;
    m.link_target = hard;
  } else if (archive_entry_filetype(entry) == AE_IFLNK) {
    m.type = MemberType::kSymlink;
    const char* target = archive_entry_symlink(entry);
    m.link_target = target ? target : "";
  } else if (archive_entry_filetype(entry) == AE_IFREG) {
    m.type = MemberType::kFile;
  }
  return m;
}

}  // namespace

Result<size_t> MemberReader::read(std::span<std::byte> buf) {
  if (broken_) return *broken_;
  la_ssize_t n = archive_read_data(archive_, buf.data(), buf.size());
  if (n >= 0) return static_cast<size_t>(n);
  if (input_error_ != nullptr && *input_error_ &&
      (*input_error_)->kind() == ErrorKind::kCancelled) {
    broken_ = **input_error_;
    return *broken_;
  }
  const char* msg = archive_error_string(archive_);
  broken_ = Error(ErrorKind::kTarball,
                  "reading archive member " + path_ + ": " + (msg ? msg : "damaged archive"));
  return *broken_;
}

Status walk_tar(io::Reader& tar, const std::string& name, const MemberCallback& on_member,
                uint64_t max_trailing_bytes) {
  ArchivePtr a(archive_read_new());
  if (!a) return Error(ErrorKind::kInternal, "libarchive: out of memory");
  archive_read_support_format_tar(a.get());
  StreamState state{&tar};
  if (archive_read_open(a.get(), &state, nullptr, read_callback, nullptr) != ARCHIVE_OK) {
    return archive_failure(a.get(), state, name + ": not a tar archive");
  }
  bool first = true;
  while (true) {
    struct archive_entry* entry = nullptr;
    int rc = archive_read_next_header(a.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      std::string what =
          first ? name + ": not a tar archive" : name + ": damaged or truncated archive";
      return archive_failure(a.get(), state, what);
    }
    first = false;
    TarMember member = describe_entry(entry);
    MemberReader data(a.get(), member.path, &state.error);
    VMI_CHECK(on_member(member, data));
    if (data.broken()) return *data.broken();
  }
  if (first) return Error(ErrorKind::kTarball, name + ": empty archive (no tar members)");
  // Padding after the end marker; reading it lets a compressed wrapper check its trailer.
  std::vector<std::byte> buf(64 * 1024);
  for (uint64_t trailing = 0;;) {
    auto n = tar.read(buf);
    if (!n.ok()) {
      if (n.error().kind() == ErrorKind::kCancelled) return std::move(n).error();
      return Error(ErrorKind::kTarball, name + ": after the end of the tar: " + n.error().message(),
                   n.error().sys_errno());
    }
    if (*n == 0) return {};
    trailing += *n;
    if (trailing > max_trailing_bytes) {
      return Error(ErrorKind::kTarball, name + ": more than " + std::to_string(max_trailing_bytes) +
                                            " bytes follow the end of the tar (limit "
                                            "max-trailing-bytes)");
    }
  }
}

}  // namespace vmimage::archive
