// Exclusive advisory locks on lock files (flock(2)). A flock belongs to an open
// file description, so threads and processes exclude each other alike, and the
// kernel drops it when its holder dies: a crashed process never leaves a lock held.
#pragma once

#include <string>

#include "util/fd.h"
#include "vmimage/result.h"

namespace vmimage::store_detail {

class FileLock {
 public:
  FileLock() = default;
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock() { release(); }

  // Locks `path`, creating the file if needed. With wait, blocks until the
  // lock is free; without, returns a lock that is not held() when it is taken.
  static Result<FileLock> acquire(const std::string& path, bool wait);
  // Locks an existing file without waiting; not held() when the file is
  // missing or someone holds it (used to tell dead holders from live ones).
  static Result<FileLock> try_existing(const std::string& path);

  bool held() const { return fd_.valid(); }
  // Removes the lock file and unlocks. Every holder removes the file on release,
  // so lock files do not pile up; acquire() checks after locking that the path
  // still names the file it locked, so a waiter never holds a removed file.
  void release();

 private:
  static Result<FileLock> lock_path(const std::string& path, bool create, bool wait);

  UniqueFd fd_;
  std::string path_;
};

}  // namespace vmimage::store_detail
