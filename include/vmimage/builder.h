// The Builder: images in, boot-ready lowers out. Build(ref) answers from the
// local scope, then the registry cache, then pulls (a stored image that was
// pulled serves only its own platform: BuildOptions::platform, else the host's;
// one imported or tagged here serves by its name unless a platform is asked
// for); Import(stream, tag) takes an
// image archive. Both store per-layer EROFS blobs (shared across images), the
// runtime lowers the layout asks for, and the metadata a VM launcher reads.
// Each takes a CancelToken, the model's context: cancelled from another thread
// (or a signal handler), the call fails with kCancelled and leaves the store as
// it was.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "vmimage/cancel.h"
#include "vmimage/export.h"
#include "vmimage/limits.h"
#include "vmimage/result.h"
#include "vmimage/store.h"
#include "vmimage/types.h"

namespace vmimage {

// How the lowers a VM mounts are made from the per-layer blobs.
struct LowerLayout {
  enum class Kind { kSquashed, kLayered, kAuto };
  Kind kind = Kind::kSquashed;
  uint32_t max_lowers = 0;  // kAuto: squash the bottom layers so at most this many remain
};
// "squashed" | "layered" | "auto:N" (N >= 1).
VMIMAGE_API Result<LowerLayout> parse_layout(std::string_view text);
VMIMAGE_API std::string layout_name(const LowerLayout& layout);

// Per-layer progress, from the thread working on that layer.
struct BuildEvent {
  enum class Kind {
    kResolved,    // manifest read: `total` = compressed size of layer `index`
    kCached,      // the layer's blob is in the store already
    kBytes,       // `done` of `total` compressed bytes received (and converted)
    kConverting,  // stream finished, the layer's filesystem is being completed
    kDone,        // the layer's blob is stored
    kSquashing,   // index -1: writing the squashed lower
    kSaved,       // index -1: the image is recorded; digest = its manifest digest
    kWarning,     // the layer's tar had a problem that left it usable; message says what
    kChecking,    // an EROFS layer (pulled converted) is whole; our reader checks it
    kFoundConverted,  // index -1: digest = a converted image of the source, pulled instead
    kPublished,       // index -1: digest = the converted image published for other hosts
  };
  Kind kind = Kind::kResolved;
  int index = -1;
  std::string digest;  // layer blob digest (compressed) or DiffID
  uint64_t done = 0;
  uint64_t total = 0;
  std::string message;
};
using BuildEvents = std::function<void(const BuildEvent&)>;

struct BuildOptions {
  std::string cache_dir;     // empty: resolve_cache_root("")
  bool force_pull = false;   // skip the local scope and the registry cache
  std::string platform;      // "os/arch[/variant]"; empty: the host's
  LowerLayout layout;
  int jobs = 3;              // layers downloaded and converted at once
  FsType fs_type = FsType::kErofs;
  std::vector<std::string> insecure_registries;
  std::string ca_file;
  BuildEvents events;        // may be empty
  Limits limits;             // what an image may hold and a registry may make us wait
  // Convert once, share everywhere (docs/fleet.md): before converting a pulled
  // image, look in this repository ([REGISTRY/]REPOSITORY) for a converted
  // image of its manifest, and pull that instead when there is one.
  std::string converted_repo;
  bool publish_converted = false;  // converted here: push it to converted_repo for others
  // Every blob ends with a dm-verity tree (docs/verity.md); blobs with and
  // without one are different store entries. Unset: the store's default
  // (Store::default_verity, `vmimage config verity on|off`).
  std::optional<bool> verity;
};

struct ImportOptions {
  std::optional<std::string> ref;  // which image of a multi-image archive
};

// Reads the next bytes of a stream into `buf`; returns how many, 0 at its end.
using ReadFunction = std::function<Result<size_t>(std::span<std::byte> buf)>;

class VMIMAGE_API Builder {
 public:
  static Result<Builder> create(BuildOptions options);
  Builder(Builder&&) noexcept;
  Builder& operator=(Builder&&) noexcept;
  ~Builder();

  Result<BuildResult> build(std::string_view ref, const CancelToken& cancel = {});
  // Stores the image of an archive (docker save, OCI archive; plain, gzip or
  // zstd) read from `read` under `tag` in the local scope; an empty tag takes
  // every name the archive gives the image (as docker load does).
  Result<BuildResult> import(const ReadFunction& read, std::string_view tag,
                             const ImportOptions& options = {}, const CancelToken& cancel = {});
  // The same from a file descriptor (a file, a pipe), read to its end, not closed.
  Result<BuildResult> import_fd(int fd, std::string_view tag, const ImportOptions& options = {},
                                const CancelToken& cancel = {});
  // An OCI image layout, or an unpacked docker save, in a directory.
  Result<BuildResult> import_dir(const std::string& dir, std::string_view tag,
                                 const ImportOptions& options = {},
                                 const CancelToken& cancel = {});
  // A local tag for an image already built (source: tag).
  Status save_tag(std::string_view tag, const BuildResult& result);
  Store& store();

 private:
  struct Impl;
  explicit Builder(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vmimage
