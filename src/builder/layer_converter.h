// One OCI layer (its uncompressed tar) → one filesystem image that overlayfs
// takes as a lower: the one engine behind mkfs, pull and import. Two phases,
// so an image's layers stream in parallel yet complete in order:
//   stream()  tar reader → layer builder → file bodies straight into the EROFS
//             data area (or, for ext4, a spool), the DiffID computed on the way;
//   finish()  the tree completed against the layers below (implicit
//             directories, whiteouts), the UUID derived, the image written.
// The same tar, lowers and options give the same bytes by every entry point.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "builder/layer_limits.h"
#include "fs/erofs/writer.h"
#include "fs/ext4/writer.h"
#include "io/identity.h"
#include "io/reader.h"
#include "tree/layer_builder.h"
#include "tree/tree.h"
#include "vmimage/result.h"
#include "util/writeback.h"
#include "verity/tree.h"
#include "vmimage/types.h"

namespace vmimage::builder {

// What shapes the bytes of a layer image.
struct LayerImageOptions {
  FsType fs_type = FsType::kErofs;
  uint32_t block_size = 4096;          // ext4 takes only 4096
  std::optional<int64_t> mtime;        // every inode's mtime (nsec 0); default: the tar's
  std::optional<io::Uuid> uuid;        // default: layer_uuid()
  std::string label;                   // EROFS: at most 15 bytes, ext4: 16
  uint64_t size_bytes = 0;             // ext4: the image size; 0 sizes automatically
  uint64_t extra_free_bytes = 0;       // ext4: free space added to an automatic size
  PageCache page_cache = PageCache::kKeep;  // kDropBehind for files nobody reads back soon
  // A dm-verity tree with this salt after the filesystem (verity/tree.h): its
  // EROFS blocks hashed as they stream, an ext4 image read back once written.
  std::optional<verity::Salt> verity;
};

// The UUID of a layer image, unless given: from the layer's DiffID (or another
// key naming its content), the options that shape the bytes and the finished
// tree's metadata, so equal inputs give byte-identical images.
io::Uuid layer_uuid(const std::string& content_key, const LayerImageOptions& options,
                    const tree::Tree& tree);

class LayerConverter {
 public:
  // The image is written into out_fd, an empty file also reachable as out_path
  // (libext2fs opens files by name); scratch files go to scratch_dir.
  static Result<std::unique_ptr<LayerConverter>> create(int out_fd, std::string out_path,
                                                        const std::string& scratch_dir,
                                                        const LayerImageOptions& options);
  ~LayerConverter();
  LayerConverter(const LayerConverter&) = delete;
  LayerConverter& operator=(const LayerConverter&) = delete;

  // Phase 1, any thread: reads `tar` to its end (so verifying readers beneath
  // check their digests) and computes its DiffID, unless `verified_diff_id` is
  // given: the DiffID that `tar` itself checks at its end (a registry layer).
  // `name` names the layer in messages; `budget` bounds it and its image.
  // A set `cancel` flag fails the next read with kCancelled.
  Status stream(io::Reader& tar, const std::string& name, ImageBudget& budget,
                std::optional<std::string> verified_diff_id = std::nullopt,
                io::CancelFlag cancel = nullptr);
  // Phase 2, in layer order: `lower` is the merged tree of the layers below
  // (null or empty for the bottom layer, or when they are not known).
  Status finish(const tree::Tree* lower);

  // After stream().
  const std::string& diff_id() const { return diff_id_; }
  uint64_t tar_bytes() const { return tar_bytes_; }
  const std::vector<std::string>& warnings() const { return warnings_; }
  // After finish().
  const tree::Tree& tree() const { return tree_; }
  const tree::LayerStats& layer_stats() const { return layer_stats_; }
  // Whether the image may depend on the layers below (implied directories,
  // whiteouts): such a layer's store blob is keyed by its chain.
  bool context_sensitive() const { return context_sensitive_; }
  // Whether the layers below did change it.
  bool context_used() const { return context_used_; }
  const io::Uuid& uuid() const { return uuid_; }
  const erofs::Stats& erofs_stats() const { return erofs_stats_; }
  const ext4::Ext4Stats& ext4_stats() const { return ext4_stats_; }
  // With options.verity, after finish(): the tree appended to the image.
  const std::optional<VerityInfo>& verity() const { return verity_; }

 private:
  LayerConverter(int out_fd, std::string out_path, LayerImageOptions options);
  Status write_ext4();

  int out_fd_;
  std::string out_path_;
  std::string scratch_dir_;
  LayerImageOptions options_;
  std::unique_ptr<erofs::ImageWriter> erofs_;  // EROFS: the image being written
  std::unique_ptr<verity::DataHasher> hasher_;  // EROFS with verity: its blocks' hashes
  std::optional<VerityInfo> verity_;
  UniqueFd spool_;                             // ext4: file bodies until finish()
  tree::DataSources spool_sources_;
  std::unique_ptr<tree::SpoolSink> spool_sink_;
  std::unique_ptr<tree::LayerBuilder> builder_;
  std::string name_;
  std::string diff_id_;
  uint64_t tar_bytes_ = 0;
  std::vector<std::string> warnings_;
  tree::Tree tree_;
  tree::LayerStats layer_stats_;
  bool context_sensitive_ = false;
  bool context_used_ = false;
  io::Uuid uuid_{};
  erofs::Stats erofs_stats_;
  ext4::Ext4Stats ext4_stats_;
};

}  // namespace vmimage::builder
