// The EROFS reader on bad input: truncated images, broken superblocks, directory
// loops and random corruption must give errors (never crashes or reads out of
// bounds: run under ASan), and images from mkfs.erofs must read correctly.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "erofs_test_util.h"
#include "fs/erofs/format.h"
#include "fs/erofs/reader.h"
#include "fs/erofs/writer.h"

namespace vmimage::erofs {
namespace {

using testing::FileSpec;
using testing::TempDir;
using testing::TreeMaker;

class ErofsReaderTest : public ::testing::Test {
 protected:
  // A small but varied image, kept in memory for mutation.
  void SetUp() override {
    std::string path = dir_.path() + "/base.img";
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    auto w = ImageWriter::create(fd.get(), path, dir_.path());
    ASSERT_TRUE(w.ok());
    TreeMaker m(**w);
    tree::InodeId root = m.tree.root();
    tree::InodeId d = m.dir(root, "d");
    tree::InodeId f = m.file(d, "f", FileSpec::dense(5000, 1));
    m.at(f).set_xattr("user.a", "value");
    m.at(f).set_xattr("trusted.overlay.opaque", "y");
    m.link(root, "hard", f);
    m.file(root, "small", FileSpec::dense(10, 2));
    m.symlink(root, "sym", "d/f");
    m.special(root, "null", tree::FileType::kCharDevice, 1, 3);
    tree::InodeId big = m.dir(root, "big");
    for (int i = 0; i < 150; ++i)
      m.file(big, std::string(60, 'a') + std::to_string(i), FileSpec::dense(i, i));
    ASSERT_TRUE((*w)->finish(m.tree).ok());
    struct stat st;
    ASSERT_EQ(::fstat(fd.get(), &st), 0);
    image_.resize(static_cast<size_t>(st.st_size));
    ASSERT_TRUE(pread_exact(fd.get(), std::as_writable_bytes(std::span(image_)), 0, "base").ok());
    ASSERT_TRUE(read(image_).ok());
  }

  Result<tree::Tree> read(const std::string& bytes) {
    std::string path = dir_.path() + "/case.img";
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    EXPECT_TRUE(write_all(fd.get(), std::as_bytes(std::span(bytes)), path).ok());
    Result<tree::Tree> t = read_image(fd.get(), 0, "case.img");
    if (t.ok()) {
      // Whatever the reader accepted must be readable through its extents.
      tree::DataSources sources;
      sources.add(fd.get(), "case.img");
      std::vector<std::byte> buf(1 << 16);
      for (tree::InodeId id : tree::reachable_inodes(*t)) {
        const tree::FileData& d = t->inode(id).data;
        for (uint64_t off = 0; off < d.size; off += buf.size()) {
          size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), d.size - off));
          Status s = testing::read_file_data(sources, d, off, std::span(buf).first(n));
          EXPECT_TRUE(s.ok()) << s.error().describe();
        }
      }
    }
    return t;
  }

  SuperBlock super(const std::string& bytes) const {
    SuperBlock sb;
    std::memcpy(&sb, bytes.data() + kSuperOffset, sizeof sb);
    return sb;
  }

  // Writes sb back with a correct checksum, to get past the checksum check.
  void put_super(std::string& bytes, SuperBlock sb) const {
    std::memcpy(bytes.data() + kSuperOffset, &sb, sizeof sb);
    sb.checksum = superblock_checksum(
        std::as_bytes(std::span(bytes)).subspan(kSuperOffset, checksum_length(4096)));
    std::memcpy(bytes.data() + kSuperOffset, &sb, sizeof sb);
  }

  TempDir dir_;
  std::string image_;
};

TEST_F(ErofsReaderTest, TruncatedImagesFail) {
  for (size_t cut : {size_t{0}, size_t{100}, size_t{1100}, size_t{4096}, image_.size() / 2,
                     image_.size() - 4096, image_.size() - 1}) {
    Result<tree::Tree> t = read(image_.substr(0, cut));
    EXPECT_FALSE(t.ok()) << "cut at " << cut;
  }
}

// An image read as the first `end` bytes of its file (a blob whose dm-verity
// tree starts there) must lie wholly inside them, whatever follows.
TEST_F(ErofsReaderTest, AnEndBeforeTheImageEndFails) {
  std::string path = dir_.path() + "/tree.img";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  std::string bytes = image_ + std::string(8192, '\x5a');  // bytes after the image
  ASSERT_TRUE(write_all(fd.get(), std::as_bytes(std::span(bytes)), path).ok());
  EXPECT_TRUE(read_image(fd.get(), 0, "tree.img", image_.size()).ok());
  EXPECT_TRUE(read_image(fd.get(), 0, "tree.img").ok());
  Result<tree::Tree> t = read_image(fd.get(), 0, "tree.img", image_.size() - 4096);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message().find("truncated"), std::string::npos) << t.error().message();
}

TEST_F(ErofsReaderTest, BrokenSuperblocksFail) {
  std::string bad = image_;
  bad[kSuperOffset] ^= 1;
  Result<tree::Tree> t = read(bad);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message().find("magic"), std::string::npos) << t.error().message();

  bad = image_;
  bad[kSuperOffset + 200] ^= 1;  // covered by the checksum, unused otherwise
  t = read(bad);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message().find("checksum"), std::string::npos) << t.error().message();

  SuperBlock sb = super(image_);
  auto with = [&](const std::function<void(SuperBlock&)>& edit) {
    std::string b = image_;
    SuperBlock s = sb;
    edit(s);
    put_super(b, s);
    return read(b);
  };
  EXPECT_TRUE(with([](SuperBlock&) {}).ok()) << "put_super must keep a valid image valid";
  EXPECT_FALSE(with([](SuperBlock& s) { s.blkszbits = 20; }).ok());
  EXPECT_FALSE(with([](SuperBlock& s) { s.blkszbits = 8; }).ok());
  EXPECT_FALSE(with([](SuperBlock& s) { s.feature_incompat = 0x4; }).ok()) << "chunked files";
  EXPECT_FALSE(with([](SuperBlock& s) { s.blocks += 1; }).ok()) << "blocks past the end";
  EXPECT_FALSE(with([](SuperBlock& s) { s.meta_blkaddr = 0xFFFFFF00; }).ok());
  EXPECT_FALSE(with([](SuperBlock& s) { s.root_nid = 0xFFFF; }).ok());
  EXPECT_FALSE(with([](SuperBlock& s) { s.root_nid = 1; }).ok()) << "inside the root inode";
}

TEST_F(ErofsReaderTest, DirectoryLoopsAndBadNamesFail) {
  int fd =
      ::open((dir_.path() + "/probe.img").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  UniqueFd hold(fd);
  ASSERT_TRUE(write_all(fd, std::as_bytes(std::span(image_)), "probe").ok());
  Result<ImageReader> r = ImageReader::open(fd, "probe");
  ASSERT_TRUE(r.ok());
  Result<InodeInfo> root = r->inode(r->super().root_nid);
  Result<std::vector<DirEntry>> entries = r->read_dir(*root);
  ASSERT_TRUE(entries.ok());
  auto d = std::find_if(entries->begin(), entries->end(),
                        [](const DirEntry& e) { return e.name == "d"; });
  ASSERT_NE(d, entries->end());
  Result<InodeInfo> dinfo = r->inode(d->nid);
  ASSERT_TRUE(dinfo.ok());
  ASSERT_EQ(dinfo->layout, kLayoutFlatInline);
  ASSERT_EQ(dinfo->body_length, 0u);
  // d's entries: ".", "..", "f". Point "f" at the root: a loop.
  std::string bad = image_;
  uint64_t root_nid = r->super().root_nid;
  std::memcpy(bad.data() + dinfo->inline_offset + 2 * sizeof(Dirent), &root_nid, 8);
  Result<tree::Tree> t = read(bad);
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message().find("two names"), std::string::npos) << t.error().message();
  // A name with a slash.
  bad = image_;
  uint16_t nameoff;
  std::memcpy(&nameoff, bad.data() + dinfo->inline_offset + 2 * sizeof(Dirent) + 8, 2);
  bad[dinfo->inline_offset + nameoff] = '/';
  EXPECT_FALSE(read(bad).ok());
  // An entry pointing past the image.
  bad = image_;
  uint64_t far = uint64_t{1} << 40;
  std::memcpy(bad.data() + dinfo->inline_offset + 2 * sizeof(Dirent), &far, 8);
  EXPECT_FALSE(read(bad).ok());
}

// Random corruption of the metadata must never crash the reader (ASan checks the
// reads); whatever it accepts must stay readable.
TEST_F(ErofsReaderTest, RandomCorruptionNeverCrashes) {
  SuperBlock sb = super(image_);
  size_t meta = size_t{sb.meta_blkaddr} * 4096;
  std::mt19937 rng(12345);
  int accepted = 0;
  for (int round = 0; round < 400; ++round) {
    std::string bad = image_;
    int flips = 1 + static_cast<int>(rng() % 8);
    for (int i = 0; i < flips; ++i) {
      size_t at = meta + rng() % (bad.size() - meta);
      bad[at] = static_cast<char>(rng() % 4 == 0 ? 0xFF : rng());
    }
    if (round % 4 == 0) {  // and a superblock field, with a valid checksum
      SuperBlock s = sb;
      switch (rng() % 4) {
        case 0:
          s.root_nid = static_cast<uint16_t>(rng());
          break;
        case 1:
          s.meta_blkaddr = static_cast<uint32_t>(rng() % (sb.blocks + 2));
          break;
        case 2:
          s.xattr_blkaddr = static_cast<uint32_t>(rng());
          break;
        default:
          s.build_time = rng();
          break;
      }
      put_super(bad, s);
    }
    if (read(bad).ok()) ++accepted;
  }
  // Some mutations hit padding or data and are harmless; most are caught.
  EXPECT_GT(accepted, 0);
  EXPECT_LT(accepted, 400);
}

// mkfs.erofs is an independent writer: its images (compact inodes, tail packing,
// shared xattrs) must read back as the directory it was given.
TEST_F(ErofsReaderTest, ReadsMkfsErofsImages) {
  if (std::system("command -v mkfs.erofs >/dev/null && command -v setfattr >/dev/null") != 0) {
    GTEST_SKIP() << "mkfs.erofs or setfattr is not installed";
  }
  std::string src = dir_.path() + "/src";
  std::string script = "set -e; mkdir -p " + src + "/sub; cd " + src +
                       "; head -c 9000 /dev/urandom > big; printf hello > small; : > empty;"
                       " ln big sub/big-link; ln -s small sym; mkdir sub/deep;"
                       " for f in big small sub/deep; do setfattr -n user.shared -v same $f; done;"
                       " setfattr -n user.own -v mine small; chmod 4750 big";
  ASSERT_EQ(std::system(script.c_str()), 0);
  std::string image = dir_.path() + "/mkfs.img";
  ASSERT_EQ(std::system(("mkfs.erofs -x1 '" + image + "' '" + src + "' >/dev/null 2>&1").c_str()),
            0);
  UniqueFd fd(::open(image.c_str(), O_RDONLY | O_CLOEXEC));
  tree::DataSources sources;
  sources.add(fd.get(), "mkfs.img");
  Result<tree::Tree> t = read_image(fd.get(), 0, "mkfs.img");
  ASSERT_TRUE(t.ok()) << t.error().describe();

  auto content = [&](const tree::FileData& d) {
    std::string s(d.size, '\0');
    EXPECT_TRUE(testing::read_file_data(sources, d, 0, std::as_writable_bytes(std::span(s))).ok());
    return s;
  };
  auto disk = [&](const std::string& rel) {
    std::string s;
    std::ifstream in(src + "/" + rel, std::ios::binary);
    s.assign(std::istreambuf_iterator<char>(in), {});
    return s;
  };
  tree::InodeId big = t->lookup("big");
  ASSERT_NE(big, tree::kNoInode);
  EXPECT_EQ(t->lookup("sub/big-link"), big);
  EXPECT_EQ(content(t->inode(big).data), disk("big"));
  EXPECT_EQ(t->inode(big).mode, 04750u);
  EXPECT_EQ(content(t->inode(t->lookup("small")).data), "hello");
  EXPECT_EQ(t->inode(t->lookup("empty")).data.size, 0u);
  EXPECT_EQ(t->inode(t->lookup("sym")).symlink_target, "small");
  EXPECT_EQ(t->inode(t->lookup("sym")).type, tree::FileType::kSymlink);
  EXPECT_TRUE(t->inode(t->lookup("sub/deep")).is_dir());
  for (const char* p : {"big", "small", "sub/deep"}) {
    const std::string* v = t->inode(t->lookup(p)).find_xattr("user.shared");
    ASSERT_NE(v, nullptr) << p;
    EXPECT_EQ(*v, "same");
  }
  EXPECT_EQ(*t->inode(t->lookup("small")).find_xattr("user.own"), "mine");
  struct stat st;
  ASSERT_EQ(::stat((src + "/small").c_str(), &st), 0);
  EXPECT_EQ(t->inode(t->lookup("small")).uid, st.st_uid);
}

}  // namespace
}  // namespace vmimage::erofs
