// The error model: every fallible function returns Result<T>; an Error carries a
// kind (what failed, as the CLI reports it), a message with context, and an
// errno. The kinds are the model's sentinels (ErrParseReference, ErrPullImage,
// ..., ErrLayerFS), plus usage, I/O, internal and cancelled.
#pragma once

#include <cerrno>
#include <string>
#include <string_view>

#include "vmimage/export.h"

namespace vmimage {

enum class ErrorKind {
  kUsage,
  kParseReference,
  kPullImage,
  kImageDigest,
  kCreateDir,
  kCreateTemp,
  kExtract,
  kCreateExt4,
  kToolNotFound,
  kTarball,
  kStoreSave,
  kStoreRead,
  kMetadata,
  kImageNotFound,
  kLayerFs,
  kIo,
  kInternal,
  kCancelled,  // a CancelToken was cancelled (or the CLI got SIGINT/SIGTERM)
  kPushImage,  // publishing an image to a registry failed
};

// Lower-case words used in messages: "vmimage: <kind>: <message>".
VMIMAGE_API std::string_view error_kind_name(ErrorKind kind);

class VMIMAGE_API Error {
 public:
  Error(ErrorKind kind, std::string message, int sys_errno = 0)
      : kind_(kind), message_(std::move(message)), errno_(sys_errno) {}

  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }
  int sys_errno() const { return errno_; }

  // Prefixes context, keeping kind and errno: "reading layer 2: <old message>".
  Error context(std::string_view what) const&;
  Error context(std::string_view what) &&;
  // Text for humans: the message plus strerror(errno) when one is set.
  std::string describe() const;

 private:
  ErrorKind kind_;
  std::string message_;
  int errno_;
};

// An Error of `kind` for a failed system call, capturing errno now.
VMIMAGE_API Error sys_error(ErrorKind kind, std::string message);

}  // namespace vmimage
