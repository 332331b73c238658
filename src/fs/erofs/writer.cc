// ImageWriter: the streaming sink (full blocks straight into the data area, tails
// into a spool) and finish(), which plans the image (plan.h) and then writes data
// that still has to move, the metadata area in nid order and the superblock.
#include "fs/erofs/writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "fs/erofs/copy.h"
#include "fs/erofs/dir.h"
#include "fs/erofs/format.h"
#include "fs/erofs/plan.h"
#include "fs/erofs/xattr.h"
#include "io/identity.h"
#include "io/sha256.h"
#include "util/file.h"
#include "util/buffered_io.h"
#include "util/writeback.h"
#include "verity/tree.h"

namespace vmimage::erofs {

// Streams one regular file at a time into the output (whole blocks) and the spool
// (a tail small enough to be packed inline later).
class ImageWriter::StreamSink : public tree::FileDataSink {
 public:
  explicit StreamSink(ImageWriter& w) : w_(w) {}

  Status begin(uint64_t size) override {
    if (w_.finished_) return Error(ErrorKind::kInternal, "sink used after finish()");
    uint32_t bs = w_.options_.block_size;
    uint64_t tail = size % bs;
    size_ = size;
    body_len_ = tail <= max_inline_tail(bs) ? size - tail : size;
    uint64_t blocks = div_round_up(body_len_, bs);
    if (w_.next_block_ + blocks > kNullAddr) {
      return Error(ErrorKind::kLayerFs, "a " + std::to_string(size) +
                                            "-byte file would take the image past 2^32 blocks");
    }
    body_off_ = w_.next_block_ * bs;
    w_.next_block_ += blocks;
    tail_off_ = w_.spool_end_;
    w_.spool_end_ += size - body_len_;
    active_ = true;
    return {};
  }

  Status write(uint64_t offset, std::span<const std::byte> data) override {
    if (!active_) return Error(ErrorKind::kInternal, "sink write() outside begin()/finish()");
    if (offset > size_ || data.size() > size_ - offset) {
      return Error(ErrorKind::kExtract,
                   "file data runs past its declared size of " + std::to_string(size_) + " bytes");
    }
    w_.stats_.streamed_bytes += data.size();
    if (offset < body_len_) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), body_len_ - offset));
      VMI_CHECK(w_.body_writer_.write(body_off_ + offset, data.first(n)));
      if (w_.hash_stream()) VMI_CHECK(w_.options_.verity->add(body_off_ + offset, data.first(n)));
      data = data.subspan(n);
      offset += n;
    }
    if (data.empty()) return {};
    uint64_t at = tail_off_ + (offset - body_len_);
    VMI_CHECK(w_.spool_writer_.write(at, data));
    w_.spool_size_ = std::max(w_.spool_size_, at + data.size());
    return {};
  }

  Result<tree::FileData> finish() override {
    if (!active_) return Error(ErrorKind::kInternal, "sink finish() without begin()");
    active_ = false;
    uint64_t tail_end = tail_off_ + (size_ - body_len_);
    // The tail ended in a hole: make it readable. Extending the file keeps
    // what spool_writer_ still holds (it lies below spool_size_).
    if (tail_end > w_.spool_size_) {
      if (::ftruncate(w_.spool_fd_.get(), static_cast<off_t>(tail_end)) != 0) {
        return sys_error(ErrorKind::kIo, "extending the EROFS tail spool");
      }
      w_.spool_size_ = tail_end;
    }
    tree::FileData d;
    d.size = size_;
    d.body = tree::Extent{kOutputSource, body_off_, body_len_};
    d.tail = tree::Extent{kSpoolSource, tail_off_, size_ - body_len_};
    return d;
  }

 private:
  ImageWriter& w_;
  bool active_ = false;
  uint64_t size_ = 0;
  uint64_t body_len_ = 0;
  uint64_t body_off_ = 0;
  uint64_t tail_off_ = 0;
};

namespace {

// Writes the metadata area front to back through a buffer, hashing every byte.
class MetaWriter {
 public:
  MetaWriter(int fd, const std::string& name, uint64_t base, WritebackStarter& writeback,
             verity::DataHasher* hasher)
      : fd_(fd), name_(name), base_(base), writeback_(writeback), hasher_(hasher) {}

  Status put(uint64_t offset, std::span<const std::byte> rec) {
    uint64_t end = flushed_ + buf_.size();
    if (offset > end) buf_.resize(buf_.size() + (offset - end));
    buf_.insert(buf_.end(), rec.begin(), rec.end());
    if (buf_.size() >= (1u << 20)) return flush();
    return {};
  }

  Status flush() {
    VMI_CHECK(pwrite_all(fd_, buf_, base_ + flushed_, name_));
    writeback_.wrote(base_ + flushed_, buf_.size());
    if (hasher_) VMI_CHECK(hasher_->add(base_ + flushed_, buf_));
    hash_.update(buf_);
    flushed_ += buf_.size();
    buf_.clear();
    return {};
  }

  std::string digest() { return hash_.finish_digest(); }

 private:
  int fd_;
  const std::string& name_;
  uint64_t base_;
  WritebackStarter& writeback_;
  verity::DataHasher* hasher_;  // the metadata's blocks, as they are written
  uint64_t flushed_ = 0;
  std::vector<std::byte> buf_;
  io::Sha256 hash_;
};

// Writes what the plan says, one inode record at a time.
class Emitter {
 public:
  Emitter(const tree::Tree& tree, const Plan& plan, const tree::DataSources& sources, int out_fd,
          const std::string& out_name, uint32_t bs, WritebackStarter& writeback,
          verity::DataHasher* hasher)
      : tree_(tree),
        plan_(plan),
        sources_(sources),
        out_fd_(out_fd),
        out_name_(out_name),
        bs_(bs),
        writeback_(writeback),
        meta_(out_fd, out_name, plan.meta_blkaddr * bs, writeback, hasher) {}

  Status run() {
    for (const InodePlan& p : plan_.inodes) {
      Status s = emit(p);
      if (!s) return s.error().context("writing " + path_of(plan_, tree_, p.id));
    }
    return meta_.flush();
  }
  std::string meta_digest() { return meta_.digest(); }
  uint64_t copied_bytes() const { return copied_; }

 private:
  Status emit(const InodePlan& p);
  void encode_core(const InodePlan& p, std::span<std::byte> rec) const;
  Status file_content(const InodePlan& p, std::span<std::byte> inline_out);
  Status dir_content(const InodePlan& p, std::span<std::byte> inline_out);
  Status memory_content(const InodePlan& p, std::span<const std::byte> content,
                        std::span<std::byte> inline_out);
  Status read_file(const tree::FileData& d, uint64_t offset, std::span<std::byte> out);
  Status read_source(uint32_t source, uint64_t offset, std::span<std::byte> out);

  const tree::Tree& tree_;
  const Plan& plan_;
  const tree::DataSources& sources_;
  int out_fd_;
  const std::string& out_name_;
  uint32_t bs_;
  WritebackStarter& writeback_;
  MetaWriter meta_;
  RangeCopier copier_;
  std::vector<WindowReader> readers_;  // per source: tails are small and mostly in order
  uint64_t copied_ = 0;
};

Status Emitter::emit(const InodePlan& p) {
  std::vector<std::byte> rec(p.record_size());
  encode_core(p, rec);
  const tree::Inode& n = tree_.inode(p.id);
  encode_xattrs(n.xattrs, std::span(rec).subspan(p.core_size(), p.xattr_size));
  std::span<std::byte> inline_out = std::span(rec).subspan(p.core_size() + p.xattr_size);
  switch (n.type) {
    case tree::FileType::kRegular:
      VMI_CHECK(file_content(p, inline_out));
      break;
    case tree::FileType::kDirectory:
      VMI_CHECK(dir_content(p, inline_out));
      break;
    case tree::FileType::kSymlink:
      VMI_CHECK(memory_content(p, std::as_bytes(std::span(n.symlink_target)), inline_out));
      break;
    default:
      break;
  }
  return meta_.put(p.meta_offset, rec);
}

void Emitter::encode_core(const InodePlan& p, std::span<std::byte> rec) const {
  const tree::Inode& n = tree_.inode(p.id);
  bool device = n.type == tree::FileType::kCharDevice || n.type == tree::FileType::kBlockDevice;
  uint32_t u = device ? p.rdev : static_cast<uint32_t>(p.start_block);
  uint16_t mode = static_cast<uint16_t>(tree::type_mode_bits(n.type) | (n.mode & 07777));
  uint16_t icount = xattr_icount(p.xattr_size);
  if (p.extended) {
    InodeExtended e{};
    e.format = inode_format(true, p.layout);
    e.xattr_icount = icount;
    e.mode = mode;
    e.size = p.size;
    e.u = u;
    e.ino = p.ino;
    e.uid = n.uid;
    e.gid = n.gid;
    e.mtime = static_cast<uint64_t>(n.mtime_sec);
    e.mtime_nsec = n.mtime_nsec;
    e.nlink = p.nlink;
    std::memcpy(rec.data(), &e, sizeof e);
  } else {
    InodeCompact c{};
    c.format = inode_format(false, p.layout);
    c.xattr_icount = icount;
    c.mode = mode;
    c.nlink = static_cast<uint16_t>(p.nlink);
    c.size = static_cast<uint32_t>(p.size);
    c.u = u;
    c.ino = p.ino;
    c.uid = static_cast<uint16_t>(n.uid);
    c.gid = static_cast<uint16_t>(n.gid);
    std::memcpy(rec.data(), &c, sizeof c);
  }
}

// Reads `out.size()` bytes of a file's content (body then tail) from `offset`.
Status Emitter::read_file(const tree::FileData& d, uint64_t offset, std::span<std::byte> out) {
  for (const tree::Extent* e : {&d.body, &d.tail}) {
    if (out.empty()) break;
    if (offset >= e->length) {
      offset -= e->length;
      continue;
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(out.size(), e->length - offset));
    VMI_CHECK(read_source(e->source, e->offset + offset, out.first(n)));
    out = out.subspan(n);
    offset = 0;
  }
  return {};
}

// The output changes while the emitter writes it, so only other sources are read
// through a window.
Status Emitter::read_source(uint32_t source, uint64_t offset, std::span<std::byte> out) {
  if (source == kOutputSource) return pread_exact(out_fd_, out, offset, out_name_);
  if (readers_.size() <= source) readers_.resize(source + 1);
  return readers_[source].read(sources_.fd(source), offset, out, sources_.name(source));
}

Status Emitter::file_content(const InodePlan& p, std::span<std::byte> inline_out) {
  const tree::FileData& d = tree_.inode(p.id).data;
  uint64_t in_blocks = std::min<uint64_t>(p.blocks * bs_, d.size);
  if (p.write_blocks) {
    uint64_t dst = p.start_block * bs_;
    uint64_t done = 0;
    for (const tree::Extent* e : {&d.body, &d.tail}) {
      uint64_t n = std::min(e->length, in_blocks - done);
      if (n == 0) continue;
      VMI_TRY(uint64_t moved,
              copier_.copy(sources_.fd(e->source), e->offset, sources_.name(e->source), out_fd_,
                           dst + done, out_name_, n));
      writeback_.wrote(dst + done, n);
      copied_ += moved;
      done += n;
    }
  }
  return read_file(d, in_blocks, inline_out);
}

Status Emitter::memory_content(const InodePlan& p, std::span<const std::byte> content,
                               std::span<std::byte> inline_out) {
  uint64_t in_blocks = std::min<uint64_t>(p.blocks * bs_, content.size());
  if (p.write_blocks) {
    VMI_CHECK(pwrite_all(out_fd_, content.first(in_blocks), p.start_block * bs_, out_name_));
  }
  std::copy_n(content.begin() + static_cast<ptrdiff_t>(in_blocks), inline_out.size(),
              inline_out.begin());
  return {};
}

Status Emitter::dir_content(const InodePlan& p, std::span<std::byte> inline_out) {
  std::vector<DirEntryRef> entries = sorted_dir_entries(tree_, p.id, plan_.parent[p.id]);
  DirPacking packing = pack_dir(entries, bs_);
  std::vector<std::byte> content((packing.first.size() - 1) * bs_);
  auto nid_of = [&](tree::InodeId id) { return plan_.inodes[plan_.index_of[id]].nid; };
  auto type_of = [&](tree::InodeId id) { return file_type_code(tree_.inode(id).type); };
  encode_dir(entries, packing, bs_, nid_of, type_of, content);
  return memory_content(p, std::span(content).first(packing.size), inline_out);
}

SuperBlock make_superblock(const Plan& plan, const Options& options) {
  SuperBlock sb{};
  sb.magic = kSuperMagic;
  sb.feature_compat = kFeatureCompatSbChksum | kFeatureCompatMtime;
  sb.blkszbits = static_cast<uint8_t>(std::countr_zero(options.block_size));
  sb.root_nid = static_cast<uint16_t>(plan.inodes[0].nid);
  sb.inos = plan.inodes.size();
  sb.build_time = static_cast<uint64_t>(plan.build_time);
  sb.build_time_nsec = plan.build_time_nsec;
  sb.blocks = static_cast<uint32_t>(plan.total_blocks);
  sb.meta_blkaddr = static_cast<uint32_t>(plan.meta_blkaddr);
  std::memcpy(sb.volume_name, options.volume_label.data(), options.volume_label.size());
  return sb;
}

}  // namespace

ImageWriter::ImageWriter(int out_fd, std::string out_name, UniqueFd spool, Options options)
    : out_fd_(out_fd),
      out_name_(std::move(out_name)),
      spool_fd_(std::move(spool)),
      options_(std::move(options)),
      writeback_(out_fd_, options_.page_cache),
      body_writer_(out_fd_, out_name_, options_.block_size, &writeback_),
      spool_writer_(spool_fd_.get(), "the EROFS tail spool", 0, nullptr) {
  sources_.add(out_fd_, out_name_);
  sources_.add(spool_fd_.get(), "the EROFS tail spool");
  sink_ = std::make_unique<StreamSink>(*this);
  first_data_block_ = div_round_up(kSuperOffset + sizeof(SuperBlock), options_.block_size);
  next_block_ = first_data_block_;
}

ImageWriter::~ImageWriter() = default;

Result<std::unique_ptr<ImageWriter>> ImageWriter::create(int out_fd, std::string out_name,
                                                         const std::string& scratch_dir,
                                                         Options options) {
  uint32_t bs = options.block_size;
  if (!std::has_single_bit(bs) || bs < kMinBlockSize || bs > kMaxBlockSize) {
    return Error(ErrorKind::kUsage, "EROFS block size " + std::to_string(bs) +
                                        " is not a power of two between 512 and 65536");
  }
  if (options.volume_label.size() > 15) {
    return Error(ErrorKind::kUsage,
                 "EROFS volume label \"" + options.volume_label + "\" is longer than 15 bytes");
  }
  int flags = ::fcntl(out_fd, F_GETFL);
  if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY || (flags & O_APPEND)) {
    return Error(ErrorKind::kInternal, out_name + " must be open for positioned writes");
  }
  if (::ftruncate(out_fd, 0) != 0) return sys_error(ErrorKind::kIo, "truncating " + out_name);
  VMI_TRY(UniqueFd spool, open_scratch_file(scratch_dir));
  return std::unique_ptr<ImageWriter>(
      new ImageWriter(out_fd, std::move(out_name), std::move(spool), std::move(options)));
}

tree::FileDataSink& ImageWriter::sink() {
  return *sink_;
}

Status ImageWriter::end_stream() {
  VMI_CHECK(body_writer_.release());
  return spool_writer_.release();
}

Result<std::vector<uint64_t>> ImageWriter::source_sizes() {
  VMI_CHECK(body_writer_.flush());
  VMI_CHECK(spool_writer_.flush());
  std::vector<uint64_t> sizes;
  for (uint32_t i = 0; i < sources_.size(); ++i) {
    struct stat st;
    if (::fstat(sources_.fd(i), &st) != 0) {
      return sys_error(ErrorKind::kIo, "inspecting " + sources_.name(i));
    }
    sizes.push_back(static_cast<uint64_t>(st.st_size));
  }
  // Streamed bodies may end in a hole the output file does not cover yet.
  sizes[kOutputSource] = std::max(sizes[kOutputSource], next_block_ * options_.block_size);
  return sizes;
}

Status ImageWriter::finish(const tree::Tree& tree) {
  if (finished_) return Error(ErrorKind::kInternal, "ImageWriter::finish() called twice");
  finished_ = true;
  uint32_t bs = options_.block_size;
  streamed_end_block_ = next_block_;
  PlanInput input{bs, first_data_block_, next_block_, &sources_, {}};
  VMI_TRY(input.source_sizes, source_sizes());
  VMI_TRY(Plan plan, make_plan(tree, input));
  // Streamed blocks were hashed as they passed; the metadata is as it is written.
  if (hash_stream()) VMI_CHECK(options_.verity->end_run());
  Emitter emitter(tree, plan, sources_, out_fd_, out_name_, bs, writeback_,
                  hash_stream() ? options_.verity : nullptr);
  VMI_CHECK(emitter.run());
  VMI_CHECK(write_superblock(plan, emitter.meta_digest()));
  uint64_t image_bytes = plan.total_blocks * bs;
  if (::ftruncate(out_fd_, static_cast<off_t>(image_bytes)) != 0) {
    return sys_error(ErrorKind::kIo, "sizing " + out_name_);
  }
  if (options_.verity) VMI_CHECK(hash_the_rest(plan, image_bytes));
  stats_.inodes = plan.inodes.size();
  for (const InodePlan& p : plan.inodes) {
    ++(p.extended ? stats_.extended_inodes : stats_.compact_inodes);
    if (p.layout == kLayoutFlatInline) ++stats_.inline_inodes;
  }
  stats_.relocated_files = plan.relocated_files;
  stats_.copied_bytes = emitter.copied_bytes();
  stats_.data_blocks = plan.meta_blkaddr;
  stats_.meta_blocks = plan.total_blocks - plan.meta_blkaddr;
  stats_.total_blocks = plan.total_blocks;
  stats_.image_bytes = image_bytes;
  return {};
}

// Blocks sink() streamed and the metadata were hashed as they were written;
// the superblock and what finish() placed in between are read back.
Status ImageWriter::hash_the_rest(const Plan& plan, uint64_t image_bytes) {
  verity::DataHasher& hasher = *options_.verity;
  if (!hash_stream()) return hasher.read_back(out_fd_, 0, image_bytes, out_name_);
  uint64_t bs = options_.block_size;
  VMI_CHECK(hasher.end_run());
  VMI_CHECK(hasher.read_back(out_fd_, 0, first_data_block_ * bs, out_name_));
  return hasher.read_back(out_fd_, streamed_end_block_ * bs, plan.meta_blkaddr * bs, out_name_);
}

// The superblock block(s) go last: the UUID (unless given) hashes the metadata.
Status ImageWriter::write_superblock(const Plan& plan, const std::string& meta_digest) {
  uint32_t bs = options_.block_size;
  SuperBlock sb = make_superblock(plan, options_);
  if (options_.uuid) {
    std::memcpy(sb.uuid, options_.uuid->data(), 16);
  } else {
    std::string sb_bytes(reinterpret_cast<const char*>(&sb), sizeof sb);
    io::Uuid uuid = io::derive_uuid("vmimage erofs uuid v1", {meta_digest, sb_bytes});
    std::memcpy(sb.uuid, uuid.data(), 16);
  }
  std::vector<std::byte> head(first_data_block_ * bs);
  std::memcpy(head.data() + kSuperOffset, &sb, sizeof sb);
  sb.checksum = superblock_checksum(std::span(head).subspan(kSuperOffset, checksum_length(bs)));
  std::memcpy(head.data() + kSuperOffset, &sb, sizeof sb);
  return pwrite_all(out_fd_, head, 0, out_name_);
}

}  // namespace vmimage::erofs
