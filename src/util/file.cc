#include "util/file.h"

#include "util/cleanup.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <random>

namespace vmimage {

Status pwrite_all(int fd, std::span<const std::byte> data, uint64_t offset, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error(ErrorKind::kIo, "writing " + what + " at offset " + std::to_string(offset));
    }
    data = data.subspan(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return {};
}

Status write_all(int fd, std::span<const std::byte> data, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error(ErrorKind::kIo, "writing " + what);
    }
    data = data.subspan(static_cast<size_t>(n));
  }
  return {};
}

Status pread_exact(int fd, std::span<std::byte> data, uint64_t offset, const std::string& what) {
  while (!data.empty()) {
    ssize_t n = ::pread(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error(ErrorKind::kIo, "reading " + what + " at offset " + std::to_string(offset));
    }
    if (n == 0) {
      return Error(ErrorKind::kIo, "reading " + what + ": unexpected end of file at offset " +
                                       std::to_string(offset));
    }
    data = data.subspan(static_cast<size_t>(n));
    offset += static_cast<uint64_t>(n);
  }
  return {};
}

DataSegment next_data_segment(int fd, uint64_t pos, uint64_t end) {
  off_t data = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
  if (data < 0) return errno == ENXIO ? DataSegment{end, end} : DataSegment{pos, end};
  uint64_t start = std::min<uint64_t>(static_cast<uint64_t>(data), end);
  off_t hole = ::lseek(fd, data, SEEK_HOLE);
  // A hole found at `data` itself means the file changed between the calls:
  // read the rest as data rather than return an empty segment.
  if (hole <= data) return DataSegment{start, end};
  return DataSegment{start, std::min<uint64_t>(static_cast<uint64_t>(hole), end)};
}

Result<UniqueFd> open_read(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sys_error(ErrorKind::kIo, "opening " + path);
  return UniqueFd(fd);
}

std::string dirname_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status fsync_dir_of(const std::string& path) {
  std::string dir = dirname_of(path);
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return sys_error(ErrorKind::kIo, "opening directory " + dir);
  if (::fsync(fd.get()) != 0) return sys_error(ErrorKind::kIo, "syncing directory " + dir);
  return {};
}

Status make_dirs(const std::string& path, mode_t mode) {
  if (path.empty()) return {};
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return {};
    return Error(ErrorKind::kCreateDir, path + " exists and is not a directory");
  }
  std::string parent = dirname_of(path);
  if (parent != path && parent != "." && parent != "/") VMI_CHECK(make_dirs(parent, mode));
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return sys_error(ErrorKind::kCreateDir, "creating directory " + path);
  }
  return {};
}

Result<AtomicFile> AtomicFile::create(const std::string& final_path, mode_t mode) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string dir = dirname_of(final_path);
  std::string base = final_path.substr(final_path.rfind('/') == std::string::npos
                                           ? 0
                                           : final_path.rfind('/') + 1);
  for (int attempt = 0; attempt < 16; ++attempt) {
    char suffix[17];
    snprintf(suffix, sizeof suffix, "%016llx", static_cast<unsigned long long>(rng()));
    std::string temp = dir + "/." + base + ".tmp-" + suffix;
    int fd = ::open(temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd >= 0) {
      AtomicFile file;
      file.fd_.reset(fd);
      file.cleanup_slot_ = register_cleanup(temp);
      file.temp_path_ = std::move(temp);
      file.final_path_ = final_path;
      return file;
    }
    if (errno != EEXIST) return sys_error(ErrorKind::kCreateTemp, "creating " + temp);
  }
  return Error(ErrorKind::kCreateTemp, "no free temporary name beside " + final_path);
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : fd_(std::move(other.fd_)),
      temp_path_(std::move(other.temp_path_)),
      final_path_(std::move(other.final_path_)),
      committed_(std::exchange(other.committed_, true)),
      cleanup_slot_(std::exchange(other.cleanup_slot_, -1)) {}

AtomicFile& AtomicFile::operator=(AtomicFile&& other) noexcept {
  if (this != &other) {
    discard();
    fd_ = std::move(other.fd_);
    temp_path_ = std::move(other.temp_path_);
    final_path_ = std::move(other.final_path_);
    committed_ = std::exchange(other.committed_, true);
    cleanup_slot_ = std::exchange(other.cleanup_slot_, -1);
  }
  return *this;
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::discard() {
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
  unregister_cleanup(std::exchange(cleanup_slot_, -1));
  committed_ = true;
  fd_.reset();
}

Status AtomicFile::commit() {
  if (::fsync(fd_.get()) != 0) return sys_error(ErrorKind::kIo, "syncing " + temp_path_);
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) {
    return sys_error(ErrorKind::kIo, "renaming " + temp_path_ + " to " + final_path_);
  }
  unregister_cleanup(std::exchange(cleanup_slot_, -1));
  committed_ = true;
  fd_.reset();
  return fsync_dir_of(final_path_);
}

Result<UniqueFd> open_scratch_file(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) return sys_error(ErrorKind::kCreateTemp, "creating a scratch file in " + dir);
  return UniqueFd(fd);
}

}  // namespace vmimage
