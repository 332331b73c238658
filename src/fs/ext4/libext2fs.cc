// libext2fs glue (see libext2fs.h).
#include "fs/ext4/libext2fs.h"

#include <et/com_err.h>

#include <mutex>
#include <utility>

namespace vmimage::ext4 {

void init_ext2_error_table() {
  static std::once_flag once;
  std::call_once(once, [] { initialize_ext2_error_table(); });
}

Error ext2_error(errcode_t code, std::string_view what) {
  init_ext2_error_table();
  return Error(ErrorKind::kCreateExt4, std::string(what) + ": " + error_message(code));
}

FsHandle& FsHandle::operator=(FsHandle&& other) noexcept {
  if (this != &other) {
    if (fs_ != nullptr) ext2fs_free(fs_);
    fs_ = other.release();
  }
  return *this;
}

FsHandle::~FsHandle() {
  if (fs_ != nullptr) ext2fs_free(fs_);
}

ext2_filsys FsHandle::release() {
  return std::exchange(fs_, nullptr);
}

Status FsHandle::close() {
  // No sync here: the caller fsyncs the finished file once (AtomicFile).
  errcode_t code = ext2fs_close2(fs_, EXT2_FLAG_FLUSH_NO_SYNC);
  if (code != 0) return ext2_error(code, "writing the ext4 metadata");
  fs_ = nullptr;
  return {};
}

}  // namespace vmimage::ext4
