// Shared by the libFuzzer targets: in-memory files (memfd) and a scratch
// directory on tmpfs, the small limits a fuzzer runs under, and the rule that
// an invariant broken by an input is a crash the fuzzer reports.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "util/fd.h"
#include "util/file.h"
#include "vmimage/result.h"
#include "vmimage/limits.h"

namespace vmimage::fuzz {

// A memory-backed file holding `data` (empty: a new file to write).
inline UniqueFd memory_file(std::string_view data = {}) {
  UniqueFd fd(::memfd_create("vmimage-fuzz", MFD_CLOEXEC));
  if (!fd.valid()) std::abort();
  if (!data.empty() && !pwrite_all(fd.get(), std::as_bytes(std::span(data)), 0, "memfd").ok()) {
    std::abort();
  }
  return fd;
}

// Where anonymous spool files go (O_TMPFILE needs a real directory).
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* shm = "/dev/shm";
    return ::access(shm, W_OK) == 0 ? std::string(shm) : std::string("/tmp");
  }();
  return dir;
}

// Limits small enough that one input cannot take a fuzzer's time or memory.
inline Limits fuzz_limits() {
  Limits l;
  l.max_layer_bytes = uint64_t{64} << 20;
  l.max_image_bytes = uint64_t{64} << 20;
  l.max_layer_entries = 20000;
  l.max_image_entries = 20000;
  return l;
}

// An invariant the input broke: libFuzzer saves the input as a crash.
[[noreturn]] inline void broken(const std::string& what, const Error& error) {
  std::fprintf(stderr, "invariant broken: %s: %s\n", what.c_str(), error.describe().c_str());
  std::abort();
}

}  // namespace vmimage::fuzz
