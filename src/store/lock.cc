// flock-based lock files (see lock.h).
#include "store/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <cerrno>
#include <utility>

namespace vmimage::store_detail {

FileLock::FileLock(FileLock&& other) noexcept
    : fd_(std::move(other.fd_)), path_(std::move(other.path_)) {}

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = std::move(other.fd_);
    path_ = std::move(other.path_);
  }
  return *this;
}

Result<FileLock> FileLock::acquire(const std::string& path, bool wait) {
  return lock_path(path, /*create=*/true, wait);
}

Result<FileLock> FileLock::try_existing(const std::string& path) {
  return lock_path(path, /*create=*/false, /*wait=*/false);
}

Result<FileLock> FileLock::lock_path(const std::string& path, bool create, bool wait) {
  for (;;) {
    int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0);
    UniqueFd fd(::open(path.c_str(), flags, 0644));
    if (!fd.valid()) {
      if (!create && errno == ENOENT) return FileLock();
      return sys_error(ErrorKind::kStoreSave, "opening lock file " + path);
    }
    int rc;
    do {
      rc = ::flock(fd.get(), LOCK_EX | (wait ? 0 : LOCK_NB));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      if (errno == EWOULDBLOCK) return FileLock();
      return sys_error(ErrorKind::kStoreSave, "locking " + path);
    }
    // The previous holder may have removed the file while we waited: then the
    // lock we got protects nothing, and we start again on the current file.
    struct stat held, now;
    if (::fstat(fd.get(), &held) != 0) return sys_error(ErrorKind::kStoreSave, "stat " + path);
    if (::stat(path.c_str(), &now) == 0 && now.st_ino == held.st_ino && now.st_dev == held.st_dev) {
      FileLock lock;
      lock.fd_ = std::move(fd);
      lock.path_ = path;
      return lock;
    }
    if (!create) return FileLock();
  }
}

void FileLock::release() {
  if (!fd_.valid()) return;
  ::unlink(path_.c_str());
  fd_.reset();
}

}  // namespace vmimage::store_detail
