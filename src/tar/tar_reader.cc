// TarReader over libarchive's read API. libarchive gets only the tar formats and
// no decompression filters (decompression is io/decompress.h's job), pulls bytes
// through read_callback (in place from the input's buffer where it has one, else
// copied into a fixed buffer), and hands out data blocks that point into them:
// memory stays bounded whatever the entry sizes.
#include "tar/tar_reader.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace vmimage::tar {

namespace {

constexpr size_t kReadBufferSize = 256 * 1024;

std::string libarchive_message(archive* ar) {
  const char* msg = archive_error_string(ar);
  return msg != nullptr ? msg : "unknown libarchive error";
}

Result<EntryType> entry_type_of(archive_entry* ae) {
  if (archive_entry_hardlink(ae) != nullptr) return EntryType::kHardlink;
  switch (archive_entry_filetype(ae)) {
    case AE_IFREG:
      return EntryType::kRegular;
    case AE_IFDIR:
      return EntryType::kDirectory;
    case AE_IFLNK:
      return EntryType::kSymlink;
    case AE_IFCHR:
      return EntryType::kCharDevice;
    case AE_IFBLK:
      return EntryType::kBlockDevice;
    case AE_IFIFO:
      return EntryType::kFifo;
    case AE_IFSOCK:
      return EntryType::kSocket;
    case 0:
      // libarchive 3.6 drops a pax linkpath record when the ustar link name
      // is empty, and is left with a hardlink (typeflag '1') of no type.
      return Error(ErrorKind::kTarball,
                   "a hardlink without a target libarchive can read: its target is only in a "
                   "pax 'linkpath' record and the ustar link name is empty (write the target in "
                   "the ustar header as well)");
    default:
      break;
  }
  char mode[16];
  std::snprintf(mode, sizeof mode, "%06o", static_cast<unsigned>(archive_entry_mode(ae)));
  return Error(ErrorKind::kTarball, std::string("unsupported entry type (mode ") + mode + ")");
}

Result<uint32_t> id_of(int64_t value, const char* what) {
  if (value < 0 || value > int64_t{UINT32_MAX}) {
    return Error(ErrorKind::kTarball,
                 std::string(what) + " " + std::to_string(value) + " does not fit in 32 bits");
  }
  return static_cast<uint32_t>(value);
}

std::vector<Xattr> xattrs_of(archive_entry* ae) {
  std::vector<Xattr> out;
  archive_entry_xattr_reset(ae);
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  while (archive_entry_xattr_next(ae, &name, &value, &size) == ARCHIVE_OK) {
    if (name == nullptr) continue;
    std::string v(static_cast<const char*>(value), value != nullptr ? size : 0);
    // A later record for the same name wins, as for any pax keyword.
    auto it = std::find_if(out.begin(), out.end(), [&](const Xattr& x) { return x.name == name; });
    if (it != out.end()) {
      it->value = std::move(v);
    } else {
      out.push_back(Xattr{name, std::move(v)});
    }
  }
  std::sort(out.begin(), out.end(), [](const Xattr& a, const Xattr& b) { return a.name < b.name; });
  return out;
}

}  // namespace

TarReader::TarReader(io::Reader& input, std::string name, TarOptions options)
    : input_(input), name_(std::move(name)), options_(options), buf_(kReadBufferSize) {}

TarReader::~TarReader() {
  if (ar_ != nullptr) archive_read_free(ar_);
}

Result<std::unique_ptr<TarReader>> TarReader::open(io::Reader& input, std::string name,
                                                   TarOptions options) {
  std::unique_ptr<TarReader> r(new TarReader(input, std::move(name), options));
  r->ar_ = archive_read_new();
  if (r->ar_ == nullptr) return Error(ErrorKind::kInternal, "archive_read_new failed");
  // archive_read_support_format_gnutar is an alias of this one: ustar, pax and GNU.
  if (archive_read_support_format_tar(r->ar_) != ARCHIVE_OK ||
      archive_read_open(r->ar_, r.get(), nullptr, &TarReader::read_callback, nullptr) !=
          ARCHIVE_OK) {
    return r->archive_failure("opening the tar stream");
  }
  return r;
}

ssize_t TarReader::read_callback(archive* ar, void* self_ptr, const void** out) {
  auto* self = static_cast<TarReader*>(self_ptr);
  // In place where the input holds the bytes (a read-ahead buffer): libarchive
  // is done with a block when it asks for the next one.
  Result<std::span<const std::byte>> got = self->input_.read_view(self->buf_);
  if (!got) {
    self->input_error_ = got.error();
    archive_set_error(ar, EIO, "%s", got.error().describe().c_str());
    return -1;
  }
  if (Status counted = self->count_bytes(got->size()); !counted) {
    self->input_error_ = counted.error();
    archive_set_error(ar, EFBIG, "%s", counted.error().message().c_str());
    return -1;
  }
  *out = got->data();
  return static_cast<ssize_t>(got->size());
}

// Every byte of the stream counts against the layer's and the image's size limits.
Status TarReader::count_bytes(uint64_t n) {
  fed_ += n;
  if (fed_ > options_.max_bytes) {
    return Error(ErrorKind::kTarball, name_ + ": the uncompressed layer is larger than " +
                                          std::to_string(options_.max_bytes) +
                                          " bytes (limit max-layer-bytes)");
  }
  if (options_.image_bytes != nullptr && !options_.image_bytes->take(n)) {
    return Error(ErrorKind::kTarball, name_ + ": the image's uncompressed layers are larger than " +
                                          std::to_string(options_.image_bytes->limit()) +
                                          " bytes together (limit max-image-bytes)");
  }
  return {};
}

// After the end-of-archive marker: the rest is read (digests cover it), but
// only so much; a stream that goes on (`cat layer.tar /dev/zero`) is an error.
Status TarReader::drain_trailing() {
  std::vector<std::byte> buf(64 * 1024);
  uint64_t trailing = 0;
  while (true) {
    VMI_TRY(size_t n, input_.read(buf));
    if (n == 0) return {};
    VMI_CHECK(count_bytes(n));
    trailing += n;
    if (trailing > options_.max_trailing_bytes) {
      return Error(ErrorKind::kTarball,
                   name_ + ": more than " + std::to_string(options_.max_trailing_bytes) +
                       " bytes follow the end-of-archive marker (limit max-trailing-bytes)");
    }
  }
}

Result<const Entry*> TarReader::next() {
  if (ended_) return static_cast<const Entry*>(nullptr);
  std::string previous =
      have_entry_ ? "after entry " + quote_path(entry_.path) : "of the first entry";
  have_entry_ = false;
  archive_entry* ae = nullptr;
  int r = archive_read_next_header(ar_, &ae);
  if (r == ARCHIVE_EOF) {
    ended_ = true;
    if (Status s = drain_trailing(); !s) {
      if (s.error().kind() == ErrorKind::kTarball) return std::move(s).error();
      return std::move(s).error().context(name_ + ": after the end of the archive");
    }
    return static_cast<const Entry*>(nullptr);
  }
  // ARCHIVE_RETRY means a damaged header libarchive would resynchronise past;
  // silently dropping entries is worse than failing.
  if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
    return archive_failure("reading the header " + previous);
  VMI_CHECK(fill_entry(ae));
  if (r == ARCHIVE_WARN) note_warning();
  have_entry_ = true;
  data_done_ = entry_.type != EntryType::kRegular;
  return static_cast<const Entry*>(&entry_);
}

Status TarReader::fill_entry(archive_entry* ae) {
  entry_ = Entry{};
  entry_.header_offset = static_cast<uint64_t>(archive_read_header_position(ar_));
  const char* raw = archive_entry_pathname(ae);
  entry_.path = raw != nullptr ? raw : "";
  if (entry_.path.empty()) return entry_error("entry has an empty name");
  Result<std::string> path = normalize_path(entry_.path, options_.paths);
  if (!path) return entry_error(path.error().message());
  Result<EntryType> type = entry_type_of(ae);
  if (!type) return entry_error(type.error().message());
  Result<uint32_t> uid = id_of(archive_entry_uid(ae), "uid");
  if (!uid) return entry_error(uid.error().message());
  Result<uint32_t> gid = id_of(archive_entry_gid(ae), "gid");
  if (!gid) return entry_error(gid.error().message());

  entry_.type = *type;
  entry_.uid = *uid;
  entry_.gid = *gid;
  entry_.mode = archive_entry_perm(ae) & 07777;
  if (archive_entry_mtime_is_set(ae)) {
    entry_.mtime_sec = archive_entry_mtime(ae);
    entry_.mtime_nsec = static_cast<uint32_t>(archive_entry_mtime_nsec(ae));
  }
  VMI_CHECK(fill_type_fields(ae));
  entry_.xattrs = xattrs_of(ae);
  entry_.path = std::move(*path);
  return {};
}

// Device numbers, link targets and size: what only some entry types have.
Status TarReader::fill_type_fields(archive_entry* ae) {
  EntryType type = entry_.type;
  if (type == EntryType::kCharDevice || type == EntryType::kBlockDevice) {
    entry_.rdev_major = static_cast<uint32_t>(archive_entry_rdevmajor(ae));
    entry_.rdev_minor = static_cast<uint32_t>(archive_entry_rdevminor(ae));
  }
  if (type == EntryType::kSymlink) {
    const char* target = archive_entry_symlink(ae);
    entry_.symlink_target = target != nullptr ? target : "";
    if (entry_.symlink_target.empty()) return entry_error("symlink has an empty target");
  }
  if (type == EntryType::kHardlink) {
    Result<std::string> target = normalize_path(archive_entry_hardlink(ae), options_.paths);
    if (!target) return entry_error("hardlink target: " + target.error().message());
    entry_.hardlink_target = std::move(*target);
  }
  if (type == EntryType::kRegular && archive_entry_size_is_set(ae)) {
    int64_t size = archive_entry_size(ae);
    if (size < 0) return entry_error("negative size " + std::to_string(size));
    entry_.size = static_cast<uint64_t>(size);
  }
  return {};
}

Result<std::optional<DataBlock>> TarReader::read_block() {
  if (!have_entry_ || data_done_) return std::optional<DataBlock>();
  const void* buf = nullptr;
  size_t size = 0;
  la_int64_t offset = 0;
  int r = archive_read_data_block(ar_, &buf, &size, &offset);
  if (r == ARCHIVE_EOF) {
    data_done_ = true;
    return std::optional<DataBlock>();
  }
  if (r != ARCHIVE_OK && r != ARCHIVE_WARN) return archive_failure("reading file data");
  if (r == ARCHIVE_WARN) note_warning();
  if (offset < 0 || static_cast<uint64_t>(offset) + size > entry_.size) {
    return entry_error("data block at offset " + std::to_string(offset) +
                       " runs past the file size " + std::to_string(entry_.size));
  }
  DataBlock block;
  block.offset = static_cast<uint64_t>(offset);
  block.bytes = std::span(static_cast<const std::byte*>(buf), size);
  return std::optional<DataBlock>(block);
}

Error TarReader::entry_error(std::string_view what) const {
  return Error(ErrorKind::kTarball, name_ + ": entry " + quote_path(entry_.path) +
                                        " (header at byte " + std::to_string(entry_.header_offset) +
                                        "): " + std::string(what));
}

Error TarReader::archive_failure(std::string_view doing) const {
  std::string where;
  if (have_entry_) {
    where = "entry " + quote_path(entry_.path) + " (header at byte " +
            std::to_string(entry_.header_offset) + "): ";
  }
  where += std::string(doing);
  // The input's own error already names the input.
  if (input_error_) return input_error_->context(where);
  std::string why = libarchive_message(ar_);
  if (fed_ == 0) why = "empty input, not a tar archive";
  if (why == "Unrecognized archive format") why = "not a tar archive (unrecognized format)";
  return Error(ErrorKind::kTarball, name_ + ": " + where + " (tar stream position " +
                                        std::to_string(archive_filter_bytes(ar_, 0)) + "): " + why);
}

void TarReader::note_warning() {
  std::string msg = libarchive_message(ar_);
  // Names are kept as raw bytes, so a failed charset conversion loses nothing.
  if (msg.find("can't be converted") != std::string::npos) return;
  warnings_.push_back(name_ + ": entry " + quote_path(entry_.path) + ": " + msg);
}

}  // namespace vmimage::tar
