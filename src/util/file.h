// File helpers: whole writes with errors that name the file, and AtomicFile,
// which makes a file visible under its final name only once complete and synced.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>

#include "util/fd.h"
#include "vmimage/result.h"

namespace vmimage {

// Writes all of `data` at `offset` (pwrite loop). `what` names the file in errors.
Status pwrite_all(int fd, std::span<const std::byte> data, uint64_t offset, const std::string& what);
Status write_all(int fd, std::span<const std::byte> data, const std::string& what);
// Reads exactly data.size() bytes at offset; a short file is an error.
Status pread_exact(int fd, std::span<std::byte> data, uint64_t offset, const std::string& what);

Result<UniqueFd> open_read(const std::string& path);

// The first data segment of `fd` in [pos, end), as [start, stop) (SEEK_DATA /
// SEEK_HOLE); start == end when only holes remain. Filesystems without
// SEEK_DATA report everything as data.
struct DataSegment {
  uint64_t start;
  uint64_t stop;
};
DataSegment next_data_segment(int fd, uint64_t pos, uint64_t end);
Status fsync_dir_of(const std::string& path);
Status make_dirs(const std::string& path, mode_t mode = 0755);

// A new file written under a hidden temporary name beside `final_path`.
// commit() fsyncs it, renames it over final_path and fsyncs the directory;
// destroying an uncommitted AtomicFile unlinks the temporary, and so does a
// signal that ends the process while it exists (util/cleanup.h).
class AtomicFile {
 public:
  static Result<AtomicFile> create(const std::string& final_path, mode_t mode = 0644);
  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&& other) noexcept;
  ~AtomicFile();

  int fd() const { return fd_.get(); }
  const std::string& temp_path() const { return temp_path_; }
  const std::string& final_path() const { return final_path_; }
  Status commit();

 private:
  AtomicFile() = default;
  void discard();

  UniqueFd fd_;
  std::string temp_path_;
  std::string final_path_;
  bool committed_ = false;
  int cleanup_slot_ = -1;
};

// An anonymous scratch file (O_TMPFILE) in `dir`: gone when closed, never visible.
Result<UniqueFd> open_scratch_file(const std::string& dir);

std::string dirname_of(const std::string& path);

}  // namespace vmimage
