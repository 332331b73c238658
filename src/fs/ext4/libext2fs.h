// Thin C++ glue over libext2fs (e2fsprogs): an owning handle for an open
// filesystem and errcode_t -> Error conversion with the library's messages.
#pragma once

#include <ext2fs/ext2fs.h>

#include <string>
#include <string_view>

#include "vmimage/result.h"

namespace vmimage::ext4 {

// An Error (kCreateExt4) "<what>: <libext2fs message>".
Error ext2_error(errcode_t code, std::string_view what);

// Returns ext2_error(code, what) when code is non-zero.
inline Status ext2_check(errcode_t code, std::string_view what) {
  if (code == 0) return {};
  return ext2_error(code, what);
}

// Owns an ext2_filsys. Destroying an open handle frees it without flushing:
// whatever was written stays incomplete, and the caller discards the file.
class FsHandle {
 public:
  FsHandle() = default;
  explicit FsHandle(ext2_filsys fs) : fs_(fs) {}
  FsHandle(FsHandle&& other) noexcept : fs_(other.release()) {}
  FsHandle& operator=(FsHandle&& other) noexcept;
  FsHandle(const FsHandle&) = delete;
  FsHandle& operator=(const FsHandle&) = delete;
  ~FsHandle();

  ext2_filsys get() const { return fs_; }
  ext2_filsys operator->() const { return fs_; }
  ext2_filsys release();
  // Writes bitmaps, group descriptors and superblocks, then frees the handle.
  Status close();

 private:
  ext2_filsys fs_ = nullptr;
};

// libext2fs reports errors as com_err codes; this registers its message table
// once so that error_message() has text for them.
void init_ext2_error_table();

}  // namespace vmimage::ext4
