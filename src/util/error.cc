#include "vmimage/error.h"

#include <cstring>

namespace vmimage {

std::string_view error_kind_name(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUsage: return "usage";
    case ErrorKind::kParseReference: return "parse reference";
    case ErrorKind::kPullImage: return "pull image";
    case ErrorKind::kImageDigest: return "image digest";
    case ErrorKind::kCreateDir: return "create dir";
    case ErrorKind::kCreateTemp: return "create temp";
    case ErrorKind::kExtract: return "extract";
    case ErrorKind::kCreateExt4: return "create ext4";
    case ErrorKind::kToolNotFound: return "tool not found";
    case ErrorKind::kTarball: return "tarball";
    case ErrorKind::kStoreSave: return "store save";
    case ErrorKind::kStoreRead: return "store read";
    case ErrorKind::kMetadata: return "metadata";
    case ErrorKind::kImageNotFound: return "image not found";
    case ErrorKind::kLayerFs: return "layer fs";
    case ErrorKind::kIo: return "io";
    case ErrorKind::kInternal: return "internal";
    case ErrorKind::kCancelled: return "cancelled";
    case ErrorKind::kPushImage: return "push image";
  }
  return "unknown";
}

Error Error::context(std::string_view what) const& {
  return Error(kind_, std::string(what) + ": " + message_, errno_);
}

Error Error::context(std::string_view what) && {
  message_.insert(0, std::string(what) + ": ");
  return std::move(*this);
}

std::string Error::describe() const {
  if (errno_ == 0) return message_;
  return message_ + ": " + std::strerror(errno_);
}

Error sys_error(ErrorKind kind, std::string message) {
  return Error(kind, std::move(message), errno);
}

}  // namespace vmimage
