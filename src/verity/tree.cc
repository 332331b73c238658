#include "verity/tree.h"

#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "io/identity.h"
#include "util/file.h"

namespace vmimage::verity {
namespace {

constexpr size_t kHashSize = 32;
constexpr size_t kHashesPerBlock = kBlock / kHashSize;
constexpr size_t kJobBlocks = 256;     // 1 MiB of data per job
constexpr size_t kQueueBlocks = 1024;  // 4 MiB of data waiting at most
constexpr uint64_t kSuperblockSize = 512;
constexpr uint32_t kMaxLevels = 63;

using Hash = std::array<uint8_t, kHashSize>;

class BlockHash {
 public:
  explicit BlockHash(const Salt& salt) : ctx_(EVP_MD_CTX_new()), salted_(EVP_MD_CTX_new()) {
    EVP_DigestInit_ex(salted_, EVP_sha256(), nullptr);
    EVP_DigestUpdate(salted_, salt.data(), salt.size());
  }
  ~BlockHash() {
    EVP_MD_CTX_free(ctx_);
    EVP_MD_CTX_free(salted_);
  }
  BlockHash(const BlockHash&) = delete;
  BlockHash& operator=(const BlockHash&) = delete;

  // SHA-256(salt || block); `block` is kBlock bytes.
  void hash(const void* block, uint8_t* out) {
    EVP_MD_CTX_copy_ex(ctx_, salted_);
    EVP_DigestUpdate(ctx_, block, kBlock);
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, out, &len);
  }

 private:
  EVP_MD_CTX* ctx_;
  EVP_MD_CTX* salted_;
};

void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint32_t get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::span<const std::byte> bytes_of(const void* p, size_t n) {
  return {static_cast<const std::byte*>(p), n};
}

// Blocks per level, level 0 (hashes of the data) first; none for one data block
// (its hash is the root), as the kernel counts them.
std::vector<uint64_t> level_blocks(uint64_t data_blocks) {
  std::vector<uint64_t> levels;
  uint64_t entries = data_blocks;
  while (entries > 1 && levels.size() < kMaxLevels) {
    uint64_t blocks = (entries + kHashesPerBlock - 1) / kHashesPerBlock;
    levels.push_back(blocks);
    entries = blocks;
  }
  return levels;
}

std::array<uint8_t, kSuperblockSize> superblock(uint64_t data_blocks, const Salt& salt,
                                                const Hash& root) {
  std::array<uint8_t, kSuperblockSize> sb{};
  std::memcpy(sb.data(), "verity\0\0", 8);
  put32(sb.data() + 8, 1);   // superblock version
  put32(sb.data() + 12, 1);  // hash type: normal (salt first)
  io::Uuid uuid =
      io::derive_uuid("vmimage verity superblock v1", {std::string(root.begin(), root.end())});
  std::memcpy(sb.data() + 16, uuid.data(), uuid.size());
  std::memcpy(sb.data() + 32, "sha256", 6);
  put32(sb.data() + 64, kBlock);
  put32(sb.data() + 68, kBlock);
  put64(sb.data() + 72, data_blocks);
  sb[80] = static_cast<uint8_t>(salt.size());
  std::memcpy(sb.data() + 88, salt.data(), salt.size());
  return sb;
}

// Writes the superblock and the levels at `base` of `out_fd` from the level-0
// hashes in `level0`; returns the root hash.
Result<Hash> write_levels(int level0, uint64_t data_blocks, const Salt& salt, int out_fd,
                          uint64_t base, const std::string& name) {
  std::vector<uint64_t> blocks = level_blocks(data_blocks);
  if (blocks.size() == kMaxLevels) {
    return Error(ErrorKind::kInternal, name + ": too many dm-verity levels");
  }
  Hash root{};
  BlockHash hasher(salt);
  if (blocks.empty()) {  // one data block: its hash is the root
    VMI_CHECK(pread_exact(level0, std::as_writable_bytes(std::span(root)), 0, "the verity spool"));
  } else {
    // Level i lies after the levels above it; the top level comes first.
    std::vector<uint64_t> at(blocks.size());
    uint64_t pos = base + kBlock;
    for (size_t i = blocks.size(); i-- > 0;) {
      at[i] = pos;
      pos += blocks[i] * kBlock;
    }
    // Level 0 streams from the spool; the levels above it fit in memory (1/128 each).
    std::vector<uint8_t> next(blocks[0] * kHashSize);
    std::vector<uint8_t> chunk(kJobBlocks * kBlock);
    uint64_t level0_bytes = data_blocks * kHashSize;
    for (uint64_t b = 0; b < blocks[0]; b += kJobBlocks) {
      uint64_t n = std::min<uint64_t>(kJobBlocks, blocks[0] - b);
      uint64_t from = b * kBlock;
      uint64_t len = std::min<uint64_t>(n * kBlock, level0_bytes - from);
      std::fill(chunk.begin(), chunk.end(), 0);
      VMI_CHECK(pread_exact(level0, std::as_writable_bytes(std::span(chunk)).first(len), from,
                            "the verity spool"));
      VMI_CHECK(pwrite_all(out_fd, bytes_of(chunk.data(), n * kBlock), at[0] + from, name));
      for (uint64_t k = 0; k < n; ++k) {
        hasher.hash(chunk.data() + k * kBlock, next.data() + (b + k) * kHashSize);
      }
    }
    std::vector<uint8_t> level = std::move(next);
    for (size_t i = 1; i < blocks.size(); ++i) {
      level.resize(blocks[i] * kBlock, 0);
      VMI_CHECK(pwrite_all(out_fd, bytes_of(level.data(), level.size()), at[i], name));
      next.assign(blocks[i] * kHashSize, 0);
      for (uint64_t k = 0; k < blocks[i]; ++k) {
        hasher.hash(level.data() + k * kBlock, next.data() + k * kHashSize);
      }
      level = std::move(next);
    }
    std::memcpy(root.data(), level.data(), kHashSize);  // the top level's one block
  }
  std::vector<uint8_t> sb_block(kBlock, 0);
  auto sb = superblock(data_blocks, salt, root);
  std::memcpy(sb_block.data(), sb.data(), sb.size());
  VMI_CHECK(pwrite_all(out_fd, bytes_of(sb_block.data(), sb_block.size()), base, name));
  return root;
}

uint64_t tree_bytes(uint64_t data_blocks) {
  uint64_t total = kBlock;  // the superblock's block
  for (uint64_t b : level_blocks(data_blocks)) total += b * kBlock;
  return total;
}

}  // namespace

std::string hex(std::span<const uint8_t> bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

Salt derive_salt(std::string_view identity) {
  std::string d = io::derive_digest("vmimage verity salt v1", {std::string(identity)});
  Salt salt{};
  std::memcpy(salt.data(), d.data(), salt.size());
  return salt;
}

DataHasher::DataHasher(UniqueFd level0, const Salt& salt)
    : level0_(std::move(level0)), salt_(salt), worker_([this] { run(); }) {}

DataHasher::~DataHasher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

Result<std::unique_ptr<DataHasher>> DataHasher::create(const std::string& scratch_dir,
                                                       const Salt& salt) {
  VMI_TRY(UniqueFd level0, open_scratch_file(scratch_dir));
  return std::unique_ptr<DataHasher>(new DataHasher(std::move(level0), salt));
}

void DataHasher::run() {
  BlockHash hasher(salt_);
  Hash zero_hash{};
  {
    std::vector<uint8_t> zeros(kBlock, 0);
    hasher.hash(zeros.data(), zero_hash.data());
  }
  std::vector<uint8_t> hashes;
  while (true) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    Status status;
    uint64_t first = job.first_block;
    if (job.zero_blocks > 0) {
      // Long runs of holes: written a chunk of hashes at a time.
      for (uint64_t done = 0; done < job.zero_blocks && status.ok();) {
        uint64_t n = std::min<uint64_t>(job.zero_blocks - done, 32768);
        hashes.resize(n * kHashSize);
        for (uint64_t k = 0; k < n; ++k) {
          std::memcpy(hashes.data() + k * kHashSize, zero_hash.data(), kHashSize);
        }
        status = pwrite_all(level0_.get(), bytes_of(hashes.data(), hashes.size()),
                            (first + done) * kHashSize, "the verity spool");
        done += n;
      }
    } else {
      uint64_t n = job.data.size() / kBlock;
      hashes.resize(n * kHashSize);
      for (uint64_t k = 0; k < n; ++k) {
        hasher.hash(job.data.data() + k * kBlock, hashes.data() + k * kHashSize);
      }
      status = pwrite_all(level0_.get(), bytes_of(hashes.data(), hashes.size()),
                          first * kHashSize, "the verity spool");
    }
    {
      std::lock_guard lock(mu_);
      queued_blocks_ -= job.data.size() / kBlock;
      busy_ = false;
      if (!status.ok() && !error_) error_ = status.error();
    }
    cv_.notify_all();
  }
}

Status DataHasher::cover(uint64_t first, uint64_t count) {
  if (count == 0) return {};
  if (!covered_.empty() && covered_.back().second == first) {
    covered_.back().second += count;
  } else {
    covered_.push_back({first, first + count});
  }
  return {};
}

Status DataHasher::submit(Job job) {
  uint64_t blocks = job.zero_blocks + job.data.size() / kBlock;
  VMI_CHECK(cover(job.first_block, blocks));
  std::unique_lock lock(mu_);
  size_t data_blocks = job.data.size() / kBlock;
  cv_.wait(lock, [&] { return error_ || queued_blocks_ + data_blocks <= kQueueBlocks || queue_.empty(); });
  if (error_) return *error_;
  queued_blocks_ += data_blocks;
  queue_.push_back(std::move(job));
  lock.unlock();
  cv_.notify_all();
  return {};
}

// Submits the whole blocks of the buffer; with `pad`, the partial last one too,
// completed with zeros.
Status DataHasher::flush_buffer(bool pad) {
  size_t whole = buffer_.size() / kBlock * kBlock;
  if (pad && whole < buffer_.size()) {
    buffer_.resize(whole + kBlock, std::byte{0});
    whole = buffer_.size();
  }
  if (whole == 0) return {};
  Job job;
  job.first_block = buffer_block_;
  job.data.assign(buffer_.begin(), buffer_.begin() + static_cast<ptrdiff_t>(whole));
  buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<ptrdiff_t>(whole));
  buffer_block_ += whole / kBlock;
  return submit(std::move(job));
}

Status DataHasher::append_zeros(uint64_t n) {
  while (n > 0) {
    size_t in_block = buffer_.size() % kBlock;
    if (in_block != 0 || n < kBlock) {
      size_t take = static_cast<size_t>(std::min<uint64_t>(n, kBlock - in_block));
      buffer_.resize(buffer_.size() + take, std::byte{0});
      n -= take;
      cursor_ += take;
      continue;
    }
    VMI_CHECK(flush_buffer(false));
    Job job;
    job.first_block = buffer_block_;
    job.zero_blocks = n / kBlock;
    buffer_block_ += job.zero_blocks;
    cursor_ += job.zero_blocks * kBlock;
    n -= job.zero_blocks * kBlock;
    VMI_CHECK(submit(std::move(job)));
  }
  return {};
}

Status DataHasher::add(uint64_t offset, std::span<const std::byte> data) {
  if (!in_run_) {
    if (offset % kBlock != 0) {
      return Error(ErrorKind::kInternal, "a verity hashing run starts inside a block");
    }
    in_run_ = true;
    cursor_ = offset;
    buffer_block_ = offset / kBlock;
    buffer_.clear();
  }
  if (offset < cursor_) return Error(ErrorKind::kInternal, "verity hashing went backwards");
  VMI_CHECK(append_zeros(offset - cursor_));
  while (!data.empty()) {
    size_t room = kJobBlocks * kBlock - buffer_.size();
    size_t take = std::min(room, data.size());
    buffer_.insert(buffer_.end(), data.begin(), data.begin() + static_cast<ptrdiff_t>(take));
    data = data.subspan(take);
    cursor_ += take;
    if (buffer_.size() >= kJobBlocks * kBlock) VMI_CHECK(flush_buffer(false));
  }
  return {};
}

Status DataHasher::end_run() {
  if (!in_run_) return {};
  in_run_ = false;
  return flush_buffer(true);
}

Status DataHasher::read_back(int fd, uint64_t begin, uint64_t end, const std::string& name) {
  VMI_CHECK(end_run());
  if (begin % kBlock != 0) {
    return Error(ErrorKind::kInternal, name + ": verity read-back starts inside a block");
  }
  for (uint64_t pos = begin; pos < end;) {
    uint64_t want = std::min<uint64_t>(kJobBlocks * kBlock, end - pos);
    Job job;
    job.first_block = pos / kBlock;
    job.data.assign((want + kBlock - 1) / kBlock * kBlock, std::byte{0});
    size_t got = 0;
    while (got < want) {
      ssize_t r = ::pread(fd, job.data.data() + got, want - got, static_cast<off_t>(pos + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return sys_error(ErrorKind::kIo, "reading back " + name);
      if (r == 0) break;  // past the end: zeros
      got += static_cast<size_t>(r);
    }
    pos += want;
    VMI_CHECK(submit(std::move(job)));
  }
  return {};
}

Status DataHasher::wait_idle() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
  if (error_) return *error_;
  return {};
}

Result<VerityInfo> DataHasher::append_tree(int fd, uint64_t image_size, const std::string& name) {
  VMI_CHECK(end_run());
  VMI_CHECK(wait_idle());
  uint64_t data_blocks = (image_size + kBlock - 1) / kBlock;
  if (data_blocks == 0) return Error(ErrorKind::kInternal, name + ": no data for a verity tree");
  std::sort(covered_.begin(), covered_.end());
  uint64_t next = 0;
  for (auto [first, end] : covered_) {
    if (first != next) {
      return Error(ErrorKind::kInternal, name + ": verity blocks " + std::to_string(next) + ".." +
                                             std::to_string(first) + " hashed " +
                                             (first < next ? "twice" : "never"));
    }
    next = end;
  }
  if (next != data_blocks) {
    return Error(ErrorKind::kInternal, name + ": verity hashed " + std::to_string(next) +
                                           " blocks of " + std::to_string(data_blocks));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) return sys_error(ErrorKind::kIo, "inspecting " + name);
  uint64_t data_size = data_blocks * kBlock;
  if (static_cast<uint64_t>(st.st_size) > data_size) {
    return Error(ErrorKind::kInternal, name + ": the image is larger than the data it hashed");
  }
  if (::ftruncate(fd, static_cast<off_t>(data_size)) != 0) {
    return sys_error(ErrorKind::kIo, "padding " + name);
  }
  VMI_TRY(Hash root, write_levels(level0_.get(), data_blocks, salt_, fd, data_size, name));
  VerityInfo info;
  info.root_hash = hex(root);
  info.salt = hex(salt_);
  info.data_size = data_size;
  info.hash_offset = data_size;
  return info;
}

Result<VerityInfo> append_tree_by_reading(int fd, const std::string& name,
                                          const std::string& scratch_dir, const Salt& salt) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return sys_error(ErrorKind::kIo, "inspecting " + name);
  VMI_TRY(auto hasher, DataHasher::create(scratch_dir, salt));
  uint64_t size = static_cast<uint64_t>(st.st_size);
  VMI_CHECK(hasher->read_back(fd, 0, size, name));
  return hasher->append_tree(fd, size, name);
}

std::optional<Salt> parse_salt(std::string_view hex) {
  auto digit = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Salt salt{};
  if (hex.size() != salt.size() * 2) return std::nullopt;
  for (size_t i = 0; i < salt.size(); ++i) {
    int hi = digit(hex[2 * i]);
    int lo = digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    salt[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return salt;
}

Status check_tree(int fd, const std::string& name, const VerityInfo& verity,
                  const std::string& scratch_dir) {
  auto corrupt = [&](const std::string& what) {
    return Error(ErrorKind::kStoreRead, name + ": " + what);
  };
  if (verity.data_size == 0 || verity.data_size % kBlock != 0 ||
      verity.hash_offset != verity.data_size) {
    return corrupt("its recorded dm-verity geometry is not one vmimage writes");
  }
  std::optional<Salt> salt = parse_salt(verity.salt);
  if (!salt) return corrupt("its recorded dm-verity salt is not 64 hex digits");
  uint64_t data_blocks = verity.data_size / kBlock;
  uint64_t expected = tree_bytes(data_blocks);
  struct stat st;
  if (::fstat(fd, &st) != 0) return sys_error(ErrorKind::kIo, "inspecting " + name);
  if (static_cast<uint64_t>(st.st_size) != verity.hash_offset + expected) {
    return corrupt("it is " + std::to_string(st.st_size) + " bytes, its dm-verity layout says " +
                   std::to_string(verity.hash_offset + expected));
  }
  VMI_TRY(auto hasher, DataHasher::create(scratch_dir, *salt));
  VMI_CHECK(hasher->read_back(fd, 0, verity.data_size, name));
  VMI_CHECK(hasher->end_run());
  VMI_CHECK(hasher->wait_idle());
  VMI_TRY(UniqueFd scratch, open_scratch_file(scratch_dir));
  VMI_TRY(Hash root, write_levels(hasher->level0_.get(), data_blocks, *salt, scratch.get(), 0,
                                  "a verity scratch file"));
  if (hex(root) != verity.root_hash) {
    return corrupt("its data does not hash to its dm-verity root hash " + verity.root_hash);
  }
  std::vector<std::byte> mine(kJobBlocks * kBlock), theirs(kJobBlocks * kBlock);
  for (uint64_t pos = 0; pos < expected; pos += mine.size()) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(mine.size(), expected - pos));
    VMI_CHECK(pread_exact(scratch.get(), std::span(mine).first(n), pos, "a verity scratch file"));
    VMI_CHECK(pread_exact(fd, std::span(theirs).first(n), verity.hash_offset + pos, name));
    auto [at, unused] = std::mismatch(mine.begin(), mine.begin() + static_cast<ptrdiff_t>(n),
                                      theirs.begin());
    if (at != mine.begin() + static_cast<ptrdiff_t>(n)) {
      uint64_t where = pos + static_cast<uint64_t>(at - mine.begin());
      return corrupt(where < kBlock ? "its dm-verity superblock is damaged"
                                    : "its dm-verity hash tree is damaged at byte " +
                                          std::to_string(verity.hash_offset + where));
    }
  }
  return {};
}

Result<Superblock> parse_superblock(std::span<const std::byte> block) {
  if (block.size() < kSuperblockSize ||
      std::memcmp(block.data(), "verity\0\0", 8) != 0) {
    return Error(ErrorKind::kStoreRead, "no dm-verity superblock");
  }
  const auto* p = reinterpret_cast<const uint8_t*>(block.data());
  Superblock sb;
  sb.version = get32(p + 8);
  sb.hash_type = get32(p + 12);
  sb.algorithm = std::string(reinterpret_cast<const char*>(p + 32),
                             strnlen(reinterpret_cast<const char*>(p + 32), 32));
  sb.data_block_size = get32(p + 64);
  sb.hash_block_size = get32(p + 68);
  sb.data_blocks = get64(p + 72);
  uint16_t salt_size = static_cast<uint16_t>(p[80] | (p[81] << 8));
  if (salt_size > 256) return Error(ErrorKind::kStoreRead, "dm-verity salt over 256 bytes");
  sb.salt_hex = hex(std::span(p + 88, salt_size));
  return sb;
}

}  // namespace vmimage::verity
