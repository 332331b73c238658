// ImageWriter: round trips through the reader (streaming and copying modes),
// determinism, inode version and data layout choices, directory and xattr layout,
// and the errors finish() and sink() must give.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

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

UniqueFd open_rw(const std::string& path) {
  return UniqueFd(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
}

std::string file_bytes(int fd) {
  struct stat st;
  EXPECT_EQ(::fstat(fd, &st), 0);
  std::string s(static_cast<size_t>(st.st_size), '\0');
  EXPECT_TRUE(pread_exact(fd, std::as_writable_bytes(std::span(s)), 0, "image").ok());
  return s;
}

// Looks a path up through ImageReader, the way the kernel walks directories.
Result<InodeInfo> lookup(const ImageReader& r, const std::string& path) {
  VMI_TRY(InodeInfo cur, r.inode(r.super().root_nid));
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    std::string part =
        path.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    pos = slash == std::string::npos ? path.size() : slash + 1;
    VMI_TRY(std::vector<DirEntry> entries, r.read_dir(cur));
    auto it = std::find_if(entries.begin(), entries.end(),
                           [&](const DirEntry& e) { return e.name == part; });
    if (it == entries.end()) return Error(ErrorKind::kIo, "no " + part);
    VMI_TRY(cur, r.inode(it->nid));
  }
  return cur;
}

class ErofsWriterTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_.path() + "/" + name; }

  std::unique_ptr<ImageWriter> writer(int fd, Options options = {}) {
    auto w = ImageWriter::create(fd, "test image", dir_.path(), options);
    EXPECT_TRUE(w.ok()) << (w.ok() ? "" : w.error().describe());
    return w.ok() ? std::move(*w) : nullptr;
  }

  // Reads the image back and compares it with what was written.
  void expect_round_trip(int fd, const TreeMaker& m) {
    tree::DataSources sources;
    uint32_t id = sources.add(fd, "image");
    Result<tree::Tree> back = read_image(fd, id, "image");
    ASSERT_TRUE(back.ok()) << back.error().describe();
    testing::expect_same_tree(m.tree, m.specs, *back, sources);
  }

  TempDir dir_;
};

TEST_F(ErofsWriterTest, StreamedRichTreeRoundTrips) {
  UniqueFd fd = open_rw(path("a.img"));
  auto w = writer(fd.get());
  TreeMaker m(*w);
  testing::build_rich_tree(m, /*huge=*/true);
  Status s = w->finish(m.tree);
  ASSERT_TRUE(s.ok()) << s.error().describe();
  expect_round_trip(fd.get(), m);
  const Stats& st = w->stats();
  EXPECT_EQ(st.inodes, tree::reachable_inodes(m.tree).size());
  EXPECT_GT(st.compact_inodes, st.extended_inodes);
  EXPECT_GT(st.inline_inodes, 100u);
  EXPECT_EQ(st.relocated_files, 3u);  // xattrs/{relocated,big-value,max-value}
  EXPECT_EQ(st.image_bytes, st.total_blocks * 4096);
  struct stat sb;
  ASSERT_EQ(::fstat(fd.get(), &sb), 0);
  EXPECT_EQ(static_cast<uint64_t>(sb.st_size), st.image_bytes);
  EXPECT_LT(static_cast<uint64_t>(sb.st_blocks) * 512, 64ull << 20) << "holes were not kept";
}

// Writes image A by streaming, reads it back and writes image B from that tree,
// copying file bodies out of A. Returns B's bytes when `keep_bytes`.
std::string copy_round_trip(const std::string& dir, bool huge, bool keep_bytes) {
  UniqueFd a = open_rw(dir + "/a.img");
  auto wa = ImageWriter::create(a.get(), "a.img", dir);
  EXPECT_TRUE(wa.ok());
  TreeMaker m(**wa);
  testing::build_rich_tree(m, huge);
  EXPECT_TRUE((*wa)->finish(m.tree).ok());

  UniqueFd b = open_rw(dir + "/b.img");
  auto wb = ImageWriter::create(b.get(), "b.img", dir);
  EXPECT_TRUE(wb.ok());
  uint32_t src = (*wb)->sources().add(a.get(), "a.img");
  Result<tree::Tree> ta = read_image(a.get(), src, "a.img");
  EXPECT_TRUE(ta.ok()) << ta.error().describe();
  Status s = (*wb)->finish(*ta);
  EXPECT_TRUE(s.ok()) << s.error().describe();
  const Stats& st = (*wb)->stats();
  EXPECT_GT(st.copied_bytes, 3u << 20);
  EXPECT_LT(st.copied_bytes, 64u << 20) << "holes were copied";
  EXPECT_EQ(st.relocated_files, 0u);
  struct stat sb;
  EXPECT_EQ(::fstat(b.get(), &sb), 0);
  EXPECT_LT(static_cast<uint64_t>(sb.st_blocks) * 512, 64ull << 20) << "holes were filled";

  tree::DataSources sources;
  uint32_t id = sources.add(b.get(), "b.img");
  Result<tree::Tree> back = read_image(b.get(), id, "b.img");
  EXPECT_TRUE(back.ok()) << back.error().describe();
  if (back.ok()) testing::expect_same_tree(m.tree, m.specs, *back, sources);
  return keep_bytes ? file_bytes(b.get()) : std::string();
}

TEST_F(ErofsWriterTest, CopyModeRebuildsFromAnotherImage) {
  copy_round_trip(dir_.path(), /*huge=*/true, false);
}

TEST_F(ErofsWriterTest, CopyModeIsDeterministic) {
  std::string first = copy_round_trip(dir_.path(), /*huge=*/false, true);
  std::string second = copy_round_trip(dir_.path(), /*huge=*/false, true);
  EXPECT_FALSE(first.empty());
  EXPECT_TRUE(first == second) << "copy mode is not deterministic";
}

TEST_F(ErofsWriterTest, SameInputGivesSameBytes) {
  std::string first;
  std::array<uint8_t, 16> first_uuid{};
  for (int round = 0; round < 3; ++round) {
    UniqueFd fd = open_rw(path("img" + std::to_string(round)));
    auto w = writer(fd.get());
    TreeMaker m(*w);
    testing::build_rich_tree(m, /*huge=*/false);
    if (round == 2) m.at(m.tree.lookup("etc/hosts")).mtime_nsec = 1;
    ASSERT_TRUE(w->finish(m.tree).ok());
    std::string bytes = file_bytes(fd.get());
    Result<ImageReader> r = ImageReader::open(fd.get(), "img");
    ASSERT_TRUE(r.ok());
    if (round == 0) {
      first = bytes;
      first_uuid = r->super().uuid;
      EXPECT_NE(first_uuid, (std::array<uint8_t, 16>{}));
    } else if (round == 1) {
      EXPECT_TRUE(bytes == first) << "same tree, different bytes";
    } else {
      EXPECT_NE(r->super().uuid, first_uuid) << "the UUID ignores the metadata";
    }
  }
}

TEST_F(ErofsWriterTest, GivenUuidAndLabelAreStored) {
  UniqueFd fd = open_rw(path("a.img"));
  Options o;
  o.uuid = std::array<uint8_t, 16>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  o.volume_label = "vmimage-rootfs!";
  auto w = writer(fd.get(), o);
  TreeMaker m(*w);
  ASSERT_TRUE(w->finish(m.tree).ok());
  Result<ImageReader> r = ImageReader::open(fd.get(), "a.img");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->super().uuid, *o.uuid);
  EXPECT_EQ(r->super().volume_name, "vmimage-rootfs!");
  EXPECT_EQ(r->super().block_size, 4096u);
  EXPECT_EQ(r->super().root_nid, 0u);
  EXPECT_EQ(r->super().inos, 1u);
}

TEST_F(ErofsWriterTest, CompactUnlessAFieldDoesNotFit) {
  UniqueFd fd = open_rw(path("a.img"));
  auto w = writer(fd.get());
  TreeMaker m(*w);
  tree::InodeId root = m.tree.root();
  m.file(root, "plain", FileSpec::dense(10, 1));
  m.at(m.file(root, "uid", FileSpec::dense(10, 2))).uid = 65536;
  m.at(m.file(root, "gid", FileSpec::dense(10, 3))).gid = 70000;
  m.at(m.file(root, "max16", FileSpec::dense(10, 4))).uid = 65535;
  m.at(m.file(root, "nsec", FileSpec::dense(10, 5))).mtime_nsec = 5;
  m.at(m.file(root, "mtime", FileSpec::dense(10, 6))).mtime_sec = 1;
  m.file(root, "4g", FileSpec{testing::kFourGiB, 7, {{0, 10}}});
  m.file(root, "4g-1", FileSpec{testing::kFourGiB - 1, 8, {{0, 10}}});
  tree::InodeId linked = m.file(root, "linked", FileSpec::dense(1, 9));
  tree::InodeId links = m.dir(root, "links");
  for (int i = 0; i < 65535; ++i) m.link(links, std::to_string(i), linked);
  ASSERT_TRUE(w->finish(m.tree).ok());

  Result<ImageReader> r = ImageReader::open(fd.get(), "a.img");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->super().build_time, TreeMaker::kTime);
  EXPECT_EQ(r->super().build_time_nsec, 0u);
  for (auto [name, extended] : std::vector<std::pair<std::string, bool>>{{"plain", false},
                                                                         {"uid", true},
                                                                         {"gid", true},
                                                                         {"max16", false},
                                                                         {"nsec", true},
                                                                         {"mtime", true},
                                                                         {"4g", true},
                                                                         {"4g-1", false},
                                                                         {"linked", true},
                                                                         {"links", false},
                                                                         {"", false}}) {
    Result<InodeInfo> info = lookup(*r, name);
    ASSERT_TRUE(info.ok()) << name;
    EXPECT_EQ(info->extended, extended) << name;
  }
  EXPECT_EQ(lookup(*r, "linked")->nlink, 65536u);
  EXPECT_EQ(lookup(*r, "nsec")->mtime_nsec, 5u);
  EXPECT_EQ(lookup(*r, "4g")->size, testing::kFourGiB);
}

TEST_F(ErofsWriterTest, BuildTimeIsTheMostCommonMtime) {
  UniqueFd fd = open_rw(path("a.img"));
  auto w = writer(fd.get());
  TreeMaker m(*w);
  for (int i = 0; i < 5; ++i) {
    tree::InodeId f = m.file(m.tree.root(), "f" + std::to_string(i), FileSpec::dense(1, i));
    m.at(f).mtime_sec = 42;
    m.at(f).mtime_nsec = 7;
  }
  ASSERT_TRUE(w->finish(m.tree).ok());
  Result<ImageReader> r = ImageReader::open(fd.get(), "a.img");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->super().build_time, 42);
  EXPECT_EQ(r->super().build_time_nsec, 7u);
  EXPECT_FALSE(lookup(*r, "f3")->extended);
  EXPECT_TRUE(lookup(*r, "")->extended);  // the root keeps its own mtime
  EXPECT_EQ(lookup(*r, "f3")->mtime_sec, 42);
}

TEST_F(ErofsWriterTest, DataLayoutsFollowThePolicy) {
  UniqueFd fd = open_rw(path("a.img"));
  auto w = writer(fd.get());
  TreeMaker m(*w);
  tree::InodeId root = m.tree.root();
  for (uint64_t size : {0, 100, 2048, 2049, 4096, 4097, 6143, 6145}) {
    m.file(root, "f" + std::to_string(size), FileSpec::dense(size, static_cast<uint32_t>(size)));
  }
  m.symlink(root, "sym", std::string(4000, 's'));
  ASSERT_TRUE(w->finish(m.tree).ok());
  Result<ImageReader> r = ImageReader::open(fd.get(), "a.img");
  ASSERT_TRUE(r.ok());
  struct Want {
    const char* name;
    uint8_t layout;
    uint64_t body;
    uint32_t inline_len;
  };
  for (Want want :
       {Want{"f0", kLayoutFlatPlain, 0, 0}, Want{"f100", kLayoutFlatInline, 0, 100},
        Want{"f2048", kLayoutFlatInline, 0, 2048}, Want{"f2049", kLayoutFlatPlain, 2049, 0},
        Want{"f4096", kLayoutFlatPlain, 4096, 0}, Want{"f4097", kLayoutFlatInline, 4096, 1},
        Want{"f6143", kLayoutFlatInline, 4096, 2047}, Want{"f6145", kLayoutFlatPlain, 6145, 0},
        Want{"sym", kLayoutFlatInline, 0, 4000}}) {
    Result<InodeInfo> info = lookup(*r, want.name);
    ASSERT_TRUE(info.ok()) << want.name;
    EXPECT_EQ(info->layout, want.layout) << want.name;
    EXPECT_EQ(info->body_length, want.body) << want.name;
    EXPECT_EQ(info->inline_length, want.inline_len) << want.name;
    // Inline data never crosses a block boundary.
    EXPECT_LE(info->inline_offset % 4096 + info->inline_length, 4096u) << want.name;
    if (info->layout == kLayoutFlatPlain && info->size > 0) {
      EXPECT_LT(info->raw_blkaddr, r->super().meta_blkaddr) << "data lies in the data area";
    }
  }
  // The inline tail bytes sit right after the inode (no xattrs here).
  Result<InodeInfo> f100 = lookup(*r, "f100");
  EXPECT_EQ(f100->inline_offset, f100->offset + 32);
  std::vector<std::byte> got(100), want(100);
  ASSERT_TRUE(pread_exact(fd.get(), got, f100->inline_offset, "img").ok());
  testing::expected_bytes(FileSpec::dense(100, 100), 0, want);
  EXPECT_EQ(got, want);
}

TEST_F(ErofsWriterTest, SinkPlacesBodiesInBlocksAndSpoolsSmallTails) {
  UniqueFd fd = open_rw(path("a.img"));
  auto w = writer(fd.get());
  TreeMaker m(*w);
  tree::FileData a = m.stream(FileSpec::dense(4096 + 100, 1));
  tree::FileData b = m.stream(FileSpec::dense(3000, 2));
  tree::FileData c = m.stream(FileSpec::dense(10, 3));
  EXPECT_EQ(a.body.source, kOutputSource);
  EXPECT_EQ(a.body.offset, 4096u);  // the first data block follows the superblock
  EXPECT_EQ(a.body.length, 4096u);
  EXPECT_EQ(a.tail.source, kSpoolSource);
  EXPECT_EQ(a.tail.length, 100u);
  EXPECT_EQ(b.body.offset, 8192u);  // padded: its 3000-byte tail got a block
  EXPECT_EQ(b.body.length, 3000u);
  EXPECT_EQ(b.tail.length, 0u);
  EXPECT_EQ(c.body.offset, 12288u);
  EXPECT_EQ(c.body.length, 0u);
  EXPECT_EQ(c.tail.offset, 100u);
  EXPECT_EQ(c.tail.length, 10u);
  tree::FileDataSink& sink = w->sink();
  ASSERT_TRUE(sink.begin(10).ok());
  EXPECT_FALSE(sink.write(5, std::as_bytes(std::span("0123456789", 10))).ok());
  EXPECT_FALSE(sink.begin(uint64_t{1} << 44).ok()) << "past 2^32 blocks";
}

TEST_F(ErofsWriterTest, DirentsStaySortedAcrossBlocks) {
  UniqueFd fd = open_rw(path("a.img"));
  auto w = writer(fd.get());
  TreeMaker m(*w);
  tree::InodeId d = m.dir(m.tree.root(), "d");
  std::vector<std::string> names = {"-", "+", ".a", ".-", "\xff", std::string(255, 'z')};
  for (int i = 0; i < 300; ++i)
    names.push_back(std::to_string(i * 7) + std::string(100 + i % 50, 'n'));
  for (const std::string& n : names) m.special(d, n, tree::FileType::kFifo);
  ASSERT_TRUE(w->finish(m.tree).ok());
  Result<ImageReader> r = ImageReader::open(fd.get(), "a.img");
  Result<InodeInfo> info = lookup(*r, "d");
  ASSERT_TRUE(info.ok());
  EXPECT_GT(info->size, 5 * 4096u);
  Result<std::vector<DirEntry>> entries = r->read_dir(*info);
  ASSERT_TRUE(entries.ok()) << entries.error().describe();
  ASSERT_EQ(entries->size(), names.size() + 2);
  EXPECT_TRUE(std::is_sorted(entries->begin(), entries->end(),
                             [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; }));
  for (const DirEntry& e : *entries) {
    if (e.name == ".") {
      EXPECT_EQ(e.nid, info->nid);
      EXPECT_EQ(e.file_type, kFtDirectory);
    } else if (e.name == "..") {
      EXPECT_EQ(e.nid, r->super().root_nid);
    } else {
      EXPECT_EQ(e.file_type, kFtFifo);
    }
  }
  // Every block starts with its own dirent table: block 1's first nameoff is
  // 12 * (entries in block 1).
  std::vector<std::byte> block(4096);
  ASSERT_TRUE(r->read(*info, 4096, block).ok());
  uint16_t nameoff;
  std::memcpy(&nameoff, block.data() + 8, 2);
  EXPECT_EQ(nameoff % 12, 0u);
  EXPECT_GT(nameoff, 12u);
}

TEST_F(ErofsWriterTest, InlineXattrsAreLaidOutAsTheKernelReadsThem) {
  UniqueFd fd = open_rw(path("a.img"));
  auto w = writer(fd.get());
  TreeMaker m(*w);
  tree::InodeId f = m.file(m.tree.root(), "f", FileSpec::dense(5, 1));
  m.at(f).set_xattr("user.a", "1");
  m.at(f).set_xattr("security.capability", "caps");
  m.at(f).set_xattr("trusted.overlay.opaque", "y");
  m.at(f).set_xattr("system.posix_acl_default", "acl");
  ASSERT_TRUE(w->finish(m.tree).ok());
  Result<ImageReader> r = ImageReader::open(fd.get(), "a.img");
  Result<InodeInfo> info = lookup(*r, "f");
  ASSERT_TRUE(info.ok());
  // Sorted by full name; each entry {name_len, index, value_size(le16), suffix, value}
  // padded to 4 bytes, after a zero 12-byte header.
  std::string want(12, '\0');
  auto entry = [&](uint8_t index, const std::string& suffix, const std::string& value) {
    want += static_cast<char>(suffix.size());
    want += static_cast<char>(index);
    want += static_cast<char>(value.size());
    want += '\0';
    want += suffix + value;
    while (want.size() % 4) want += '\0';
  };
  entry(kXattrSecurity, "capability", "caps");
  entry(kXattrPosixAclDefault, "", "acl");
  entry(kXattrTrusted, "overlay.opaque", "y");
  entry(kXattrUser, "a", "1");
  ASSERT_EQ(info->xattr_size, want.size());
  std::string got(want.size(), '\0');
  ASSERT_TRUE(
      pread_exact(fd.get(), std::as_writable_bytes(std::span(got)), info->offset + 32, "img").ok());
  EXPECT_EQ(got, want);
  uint16_t icount;
  ASSERT_TRUE(
      pread_exact(fd.get(), std::as_writable_bytes(std::span(&icount, 1)), info->offset + 2, "img")
          .ok());
  EXPECT_EQ(icount, (want.size() - 12) / 4 + 1);
  EXPECT_EQ(info->inline_offset, info->offset + 32 + want.size());
}

TEST_F(ErofsWriterTest, OtherBlockSizesRoundTrip) {
  for (uint32_t bs : {512u, 1024u, 2048u, 8192u, 65536u}) {
    SCOPED_TRACE(bs);
    UniqueFd fd = open_rw(path("bs" + std::to_string(bs)));
    Options o;
    o.block_size = bs;
    auto w = writer(fd.get(), o);
    TreeMaker m(*w);
    testing::build_rich_tree(m, /*huge=*/false);
    Status s = w->finish(m.tree);
    ASSERT_TRUE(s.ok()) << s.error().describe();
    expect_round_trip(fd.get(), m);
    Result<ImageReader> r = ImageReader::open(fd.get(), "img");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->super().block_size, bs);
  }
}

Status finish_with(const std::function<void(TreeMaker&)>& edit, const std::string& dir) {
  UniqueFd fd = open_rw(dir + "/bad.img");
  VMI_TRY(auto w, ImageWriter::create(fd.get(), "bad.img", dir));
  TreeMaker m(*w);
  edit(m);
  return w->finish(m.tree);
}

TEST_F(ErofsWriterTest, FinishRejectsWhatEROFSCannotHold) {
  using E = std::function<void(TreeMaker&)>;
  std::vector<std::pair<std::string, E>> cases = {
      {"slash", [](TreeMaker& m) { m.dir(m.tree.root(), "a/b"); }},
      {"empty", [](TreeMaker& m) { m.dir(m.tree.root(), ""); }},
      {"dot", [](TreeMaker& m) { m.dir(m.tree.root(), "."); }},
      {"dotdot", [](TreeMaker& m) { m.dir(m.tree.root(), ".."); }},
      {"256", [](TreeMaker& m) { m.dir(m.tree.root(), std::string(256, 'a')); }},
      {"xattr prefix", [](TreeMaker& m) { m.at(m.tree.root()).set_xattr("system.foo", "1"); }},
      {"xattr empty suffix", [](TreeMaker& m) { m.at(m.tree.root()).set_xattr("user.", "1"); }},
      {"xattr name 256",
       [](TreeMaker& m) { m.at(m.tree.root()).set_xattr("user." + std::string(251, 'n'), "1"); }},
      {"xattr value",
       [](TreeMaker& m) { m.at(m.tree.root()).set_xattr("user.a", std::string(65536, 'v')); }},
      {"major",
       [](TreeMaker& m) { m.special(m.tree.root(), "d", tree::FileType::kCharDevice, 4096, 0); }},
      {"minor",
       [](TreeMaker& m) {
         m.special(m.tree.root(), "d", tree::FileType::kBlockDevice, 1, 1 << 20);
       }},
      {"symlink", [](TreeMaker& m) { m.symlink(m.tree.root(), "s", ""); }},
      {"nsec", [](TreeMaker& m) { m.at(m.tree.root()).mtime_nsec = 1000000000; }},
      {"dir twice",
       [](TreeMaker& m) { m.link(m.tree.root(), "again", m.dir(m.tree.root(), "d")); }},
      {"root loop", [](TreeMaker& m) { m.link(m.dir(m.tree.root(), "d"), "up", m.tree.root()); }},
      {"sizes",
       [](TreeMaker& m) {
         m.at(m.file(m.tree.root(), "f", FileSpec::dense(10, 1))).data.size = 11;
       }},
      {"extent",
       [](TreeMaker& m) {
         tree::InodeId f = m.file(m.tree.root(), "f", FileSpec::dense(10, 1));
         m.at(f).data.tail.offset += 1000000;
       }},
      {"source",
       [](TreeMaker& m) {
         tree::InodeId f = m.file(m.tree.root(), "f", FileSpec::dense(10, 1));
         m.at(f).data.tail.source = 7;
       }},
  };
  for (const auto& [what, edit] : cases) {
    Status s = finish_with(edit, dir_.path());
    EXPECT_FALSE(s.ok()) << what;
    if (!s.ok()) {
      EXPECT_FALSE(s.error().message().empty());
    }
  }
  Status s = finish_with(
      [](TreeMaker& m) { m.at(m.dir(m.dir(m.tree.root(), "a"), "b")).set_xattr("os2.x", ""); },
      dir_.path());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("/a/b"), std::string::npos) << s.error().message();
}

// Copying two sparse 9 TiB files would need more than 2^32 blocks: the plan
// fails before a byte is copied.
TEST_F(ErofsWriterTest, FinishFailsPast16TiB) {
  UniqueFd src = open_rw(path("sparse-source"));
  ASSERT_EQ(::ftruncate(src.get(), 9ll << 40), 0);
  UniqueFd fd = open_rw(path("a.img"));
  auto w = writer(fd.get());
  uint32_t id = w->sources().add(src.get(), "sparse-source");
  TreeMaker m(*w);
  for (const char* name : {"a", "b"}) {
    tree::Inode f;
    f.data.size = 9ull << 40;
    f.data.body = tree::Extent{id, 0, 9ull << 40};
    f.data.tail = tree::Extent{id, 0, 0};
    m.tree.inode(m.tree.root()).children[name] = m.tree.add(std::move(f));
  }
  Status s = w->finish(m.tree);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("16 TiB"), std::string::npos) << s.error().message();
  EXPECT_EQ(w->stats().copied_bytes, 0u);
}

TEST_F(ErofsWriterTest, CreateValidatesOptionsAndFinishRunsOnce) {
  UniqueFd fd = open_rw(path("a.img"));
  Options o;
  o.block_size = 3000;
  EXPECT_FALSE(ImageWriter::create(fd.get(), "a", dir_.path(), o).ok());
  o.block_size = 256;
  EXPECT_FALSE(ImageWriter::create(fd.get(), "a", dir_.path(), o).ok());
  o.block_size = 4096;
  o.volume_label = std::string(16, 'l');
  EXPECT_FALSE(ImageWriter::create(fd.get(), "a", dir_.path(), o).ok());
  UniqueFd ro(::open(path("a.img").c_str(), O_RDONLY | O_CLOEXEC));
  EXPECT_FALSE(ImageWriter::create(ro.get(), "a", dir_.path()).ok());
  UniqueFd append(::open(path("a.img").c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  EXPECT_FALSE(ImageWriter::create(append.get(), "a", dir_.path()).ok());
  auto w = writer(fd.get());
  TreeMaker m(*w);
  ASSERT_TRUE(w->finish(m.tree).ok());
  EXPECT_FALSE(w->finish(m.tree).ok());
  EXPECT_FALSE(w->sink().begin(1).ok());
}

}  // namespace
}  // namespace vmimage::erofs
