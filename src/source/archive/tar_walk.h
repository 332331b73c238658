// Streaming walk over the outer tar of an image archive (libarchive, tar formats
// only: the caller decompresses). Each member's bytes are offered once, in order.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "io/reader.h"
#include "vmimage/result.h"

struct archive;

namespace vmimage::archive {

enum class MemberType { kFile, kSymlink, kHardlink, kOther };

struct TarMember {
  std::string path;  // as stored in the archive
  MemberType type = MemberType::kOther;
  std::string link_target;  // symlink or hardlink target, as stored
  int64_t size = 0;         // declared data size (0 for links and directories)
};

// The data of the current member. Errors that come from the outer stream (a
// truncated or corrupt archive) are remembered so a caller can tell them apart
// from its own failures while consuming the bytes.
class MemberReader : public io::Reader {
 public:
  // `input_error` (may be null) holds the outer stream's own error: a
  // cancellation is reported as one, not as a damaged archive.
  MemberReader(struct archive* a, const std::string& path,
               const std::optional<Error>* input_error = nullptr)
      : archive_(a), path_(path), input_error_(input_error) {}
  Result<size_t> read(std::span<std::byte> buf) override;
  // The outer-stream error seen while reading this member, if any.
  const std::optional<Error>& broken() const { return broken_; }

 private:
  struct archive* archive_;
  const std::string& path_;
  const std::optional<Error>* input_error_;
  std::optional<Error> broken_;
};

using MemberCallback = std::function<Status(const TarMember&, MemberReader&)>;

// Calls `on_member` for every entry of the tar read from `tar`, in archive order;
// the callback may leave data unread (it is skipped). A non-tar input, a
// truncated or damaged archive are kTarball errors naming `name`. After the tar's
// end marker the rest of `tar` is read so a compressed wrapper is verified: at
// most `max_trailing_bytes` of it (limit max-trailing-bytes).
Status walk_tar(io::Reader& tar, const std::string& name, const MemberCallback& on_member,
                uint64_t max_trailing_bytes);

}  // namespace vmimage::archive
