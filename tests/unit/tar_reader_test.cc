// TarReader on tars written by libarchive and on hand-built headers.
#include <gtest/gtest.h>

#include "io/sha256.h"
#include "tar/tar_reader.h"
#include "tar_test_util.h"

namespace vmimage::tar {
namespace {

using testing::ChunkReader;
using testing::TarBuilder;

struct Read {
  Entry entry;
  std::string data;                                   // holes as zeros
  std::vector<std::pair<uint64_t, uint64_t>> blocks;  // offset, length
};

Result<std::vector<Read>> read_all_entries(io::Reader& in, size_t* warnings = nullptr) {
  VMI_TRY(auto reader, TarReader::open(in, "test.tar"));
  std::vector<Read> out;
  while (true) {
    VMI_TRY(const Entry* e, reader->next());
    if (e == nullptr) break;
    Read r{*e, {}, {}};
    while (true) {
      VMI_TRY(auto block, reader->read_block());
      if (!block) break;
      r.blocks.emplace_back(block->offset, block->bytes.size());
      if (r.data.size() < block->offset) r.data.resize(block->offset, '\0');
      r.data.append(reinterpret_cast<const char*>(block->bytes.data()), block->bytes.size());
    }
    if (r.data.size() < r.entry.size) r.data.resize(r.entry.size, '\0');
    out.push_back(std::move(r));
  }
  if (warnings != nullptr) *warnings = reader->warnings().size();
  return out;
}

Result<std::vector<Read>> read_tar(const std::string& tar, size_t chunk = 1 << 20) {
  ChunkReader in(tar, chunk);
  return read_all_entries(in);
}

std::string error_of(const std::string& tar) {
  auto r = read_tar(tar);
  if (r.ok()) return "<no error>";
  EXPECT_EQ(r.error().kind(), ErrorKind::kTarball) << r.error().describe();
  return r.error().describe();
}

TEST(TarReader, AllTypesAndMetadata) {
  TarBuilder t;
  t.dir("./etc/");
  t.file("etc/passwd", "root:x:0:0\n", [](archive_entry* e) {
    archive_entry_set_perm(e, 04755);
    archive_entry_set_uid(e, 4000000000u);
    archive_entry_set_gid(e, 4294967295u);
    archive_entry_set_mtime(e, 1700000000, 123456789);
  });
  t.add("etc/link", AE_IFLNK, "",
        [](archive_entry* e) { archive_entry_set_symlink(e, "../nowhere"); });
  t.add("etc/hard", AE_IFREG, "", [](archive_entry* e) {
    archive_entry_set_hardlink(e, "./etc/passwd");
    archive_entry_set_size(e, 0);
  });
  t.add("dev/null", AE_IFCHR, "", [](archive_entry* e) {
    archive_entry_set_rdevmajor(e, 1);
    archive_entry_set_rdevminor(e, 3);
  });
  t.add("dev/sda", AE_IFBLK, "", [](archive_entry* e) {
    archive_entry_set_rdevmajor(e, 8);
    archive_entry_set_rdevminor(e, 0);
  });
  t.add("run/fifo", AE_IFIFO);
  t.dir("tmp/");
  auto entries = read_tar(t.finish());
  ASSERT_TRUE(entries.ok()) << entries.error().describe();
  ASSERT_EQ(entries->size(), 8u);
  const auto& e = *entries;
  EXPECT_EQ(e[0].entry.path, "etc");
  EXPECT_EQ(e[0].entry.type, EntryType::kDirectory);
  EXPECT_EQ(e[1].entry.path, "etc/passwd");
  EXPECT_EQ(e[1].entry.mode, 04755u);
  EXPECT_EQ(e[1].entry.uid, 4000000000u);
  EXPECT_EQ(e[1].entry.gid, 4294967295u);
  EXPECT_EQ(e[1].entry.mtime_sec, 1700000000);
  EXPECT_EQ(e[1].entry.mtime_nsec, 123456789u);
  EXPECT_EQ(e[1].data, "root:x:0:0\n");
  EXPECT_EQ(e[2].entry.type, EntryType::kSymlink);
  EXPECT_EQ(e[2].entry.symlink_target, "../nowhere");  // never normalized
  EXPECT_EQ(e[3].entry.type, EntryType::kHardlink);
  EXPECT_EQ(e[3].entry.hardlink_target, "etc/passwd");
  EXPECT_EQ(e[4].entry.type, EntryType::kCharDevice);
  EXPECT_EQ(e[4].entry.rdev_major, 1u);
  EXPECT_EQ(e[4].entry.rdev_minor, 3u);
  EXPECT_EQ(e[5].entry.type, EntryType::kBlockDevice);
  EXPECT_EQ(e[5].entry.rdev_major, 8u);
  EXPECT_EQ(e[6].entry.type, EntryType::kFifo);
  EXPECT_EQ(e[7].entry.path, "tmp");
}

TEST(TarReader, XattrsKeepBinaryValues) {
  const std::string cap(
      "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20);
  TarBuilder t;  // libarchive writes both SCHILY.xattr.* and LIBARCHIVE.xattr.* (base64)
  t.file("bin/ping", "x", [&](archive_entry* e) {
    archive_entry_xattr_add_entry(e, "security.capability", cap.data(), cap.size());
    archive_entry_xattr_add_entry(e, "user.note", "hello", 5);
    archive_entry_xattr_add_entry(e, "trusted.t", "\0\n\xff", 3);
  });
  auto entries = read_tar(t.finish());
  ASSERT_TRUE(entries.ok()) << entries.error().describe();
  const auto& x = (*entries)[0].entry.xattrs;
  ASSERT_EQ(x.size(), 3u);
  EXPECT_EQ(x[0], (Xattr{"security.capability", cap}));
  EXPECT_EQ(x[1], (Xattr{"trusted.t", std::string("\0\n\xff", 3)}));
  EXPECT_EQ(x[2], (Xattr{"user.note", "hello"}));
}

TEST(TarReader, LibarchiveXattrRecordsAlone) {
  // LIBARCHIVE.xattr.<url-encoded name>=<base64 value>, without SCHILY records.
  std::string tar = testing::pax_header({{"LIBARCHIVE.xattr.user.a%3Db", "AAEC/w=="}}) +
                    testing::ustar_header("f", 0) + testing::end_of_archive();
  auto entries = read_tar(tar);
  ASSERT_TRUE(entries.ok()) << entries.error().describe();
  ASSERT_EQ((*entries)[0].entry.xattrs.size(), 1u);
  EXPECT_EQ((*entries)[0].entry.xattrs[0], (Xattr{"user.a=b", std::string("\x00\x01\x02\xff", 4)}));
}

TEST(TarReader, LongNamesPaxAndGnu) {
  std::string component(255, 'c');
  std::string long_path = "a/" + component + "/" + std::string(150, 'd');
  std::string long_target = std::string(300, 't');
  for (int format : {ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, ARCHIVE_FORMAT_TAR_GNUTAR}) {
    TarBuilder t(format);
    t.file(long_path, "data");
    t.add("sym", AE_IFLNK, "",
          [&](archive_entry* e) { archive_entry_set_symlink(e, long_target.c_str()); });
    t.add("hard", AE_IFREG, "", [&](archive_entry* e) {
      archive_entry_set_hardlink(e, long_path.c_str());
      archive_entry_set_size(e, 0);
    });
    auto entries = read_tar(t.finish(), 700);
    ASSERT_TRUE(entries.ok()) << entries.error().describe();
    ASSERT_EQ(entries->size(), 3u);
    EXPECT_EQ((*entries)[0].entry.path, long_path);
    EXPECT_EQ((*entries)[0].data, "data");
    EXPECT_EQ((*entries)[1].entry.symlink_target, long_target);
    EXPECT_EQ((*entries)[2].entry.hardlink_target, long_path);
  }
}

TEST(TarReader, NamesAreRawBytes) {
  // Latin-1 bytes in a ustar name and in a pax path record without
  // hdrcharset=BINARY (which claims UTF-8): both must come through unchanged.
  std::string latin = "caf\xe9-\xff";
  std::string utf8 = "caf\xc3\xa9";
  std::string tar = testing::ustar_header(latin, 0) +
                    testing::pax_header({{"path", "pax-" + latin}}) +
                    testing::ustar_header("x", 0) + testing::pax_header({{"path", utf8}}) +
                    testing::ustar_header("y", 0) + testing::end_of_archive();
  auto entries = read_tar(tar);
  ASSERT_TRUE(entries.ok()) << entries.error().describe();
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].entry.path, latin);
  EXPECT_EQ((*entries)[1].entry.path, "pax-" + latin);
  EXPECT_EQ((*entries)[2].entry.path, utf8);
}

TEST(TarReader, PaxSparseFileGivesHoles) {
  TarBuilder t;
  t.sparse_file("sparse", 1 << 20, {{4096, "AAAA"}, {600000, "BBBB"}});
  t.file("after", "tail");
  auto entries = read_tar(t.finish(), 100);
  ASSERT_TRUE(entries.ok()) << entries.error().describe();
  ASSERT_EQ(entries->size(), 2u);
  const Read& s = (*entries)[0];
  EXPECT_EQ(s.entry.size, 1u << 20);
  ASSERT_EQ(s.blocks.size(), 2u);
  EXPECT_EQ(s.blocks[0], (std::pair<uint64_t, uint64_t>(4096, 4)));
  EXPECT_EQ(s.blocks[1], (std::pair<uint64_t, uint64_t>(600000, 4)));
  EXPECT_EQ(s.data.substr(4096, 4), "AAAA");
  EXPECT_EQ(s.data.substr(600000, 4), "BBBB");
  EXPECT_EQ((*entries)[1].data, "tail");
}

TEST(TarReader, PaxNanosecondsAndBigIds) {
  std::string tar =
      testing::pax_header(
          {{"mtime", "1600000000.000000042"}, {"uid", "4294967295"}, {"gid", "123456789"}}) +
      testing::ustar_header("f", 0) + testing::end_of_archive();
  auto entries = read_tar(tar);
  ASSERT_TRUE(entries.ok()) << entries.error().describe();
  EXPECT_EQ((*entries)[0].entry.mtime_sec, 1600000000);
  EXPECT_EQ((*entries)[0].entry.mtime_nsec, 42u);
  EXPECT_EQ((*entries)[0].entry.uid, 4294967295u);
  EXPECT_EQ((*entries)[0].entry.gid, 123456789u);
}

TEST(TarReader, UidBeyond32BitsIsAnError) {
  std::string tar = testing::pax_header({{"uid", "4294967296"}}) + testing::ustar_header("f", 0) +
                    testing::end_of_archive();
  std::string msg = error_of(tar);
  EXPECT_NE(msg.find("'f'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("32 bits"), std::string::npos) << msg;
}

TEST(TarReader, DotDotEscapeIsRejected) {
  std::string tar = testing::ustar_header("a/../../etc/passwd", 0) + testing::end_of_archive();
  std::string msg = error_of(tar);
  EXPECT_NE(msg.find("leaves the root"), std::string::npos) << msg;
  EXPECT_NE(msg.find("a/../../etc/passwd"), std::string::npos) << msg;
  std::string hard = testing::ustar_header("f", 0) + testing::ustar_header("h", 0, '1', "../x") +
                     testing::end_of_archive();
  msg = error_of(hard);
  EXPECT_NE(msg.find("hardlink target"), std::string::npos) << msg;
}

TEST(TarReader, TruncatedDataIsAnError) {
  TarBuilder t;
  t.file("first", "ok");
  t.file("big", std::string(100000, 'x'));
  std::string tar = t.finish();
  tar.resize(1024 + 512 + 50000);
  std::string msg = error_of(tar);
  EXPECT_NE(msg.find("'big'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("runcated"), std::string::npos) << msg;
}

TEST(TarReader, HeaderClaimingMoreDataThanFollows) {
  std::string tar = testing::ustar_header("liar", 1ull << 30) + testing::pad512("short");
  std::string msg = error_of(tar);
  EXPECT_NE(msg.find("'liar'"), std::string::npos) << msg;
  // Also when the caller skips the data instead of reading it.
  ChunkReader in(tar, 4096);
  auto reader = TarReader::open(in, "t");
  ASSERT_TRUE(reader.ok());
  auto first = (*reader)->next();
  ASSERT_TRUE(first.ok());
  auto second = (*reader)->next();
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().describe().find("after entry 'liar'"), std::string::npos)
      << second.error().describe();
}

TEST(TarReader, BadChecksumIsAnErrorNotASkip) {
  std::string second = testing::ustar_header("second", 0);
  second[0] = 'X';  // checksum no longer matches
  std::string tar = testing::ustar_header("first", 0) + second + testing::ustar_header("third", 0) +
                    testing::end_of_archive();
  std::string msg = error_of(tar);
  EXPECT_NE(msg.find("after entry 'first'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Damaged"), std::string::npos) << msg;
}

TEST(TarReader, GarbageIsAnError) {
  std::string garbage(4096, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 7 + 3);
  std::string msg = error_of(garbage);
  EXPECT_NE(msg.find("test.tar"), std::string::npos) << msg;
  EXPECT_EQ(error_of("").find("<no error>"), std::string::npos);
}

TEST(TarReader, EmptyNameIsAnError) {
  std::string tar = testing::ustar_header("", 0) + testing::end_of_archive();
  tar[0] = '\0';
  EXPECT_NE(error_of(tar), "<no error>");
}

class FailingReader : public io::Reader {
 public:
  explicit FailingReader(std::string data) : inner_(std::move(data), 512) {}
  Result<size_t> read(std::span<std::byte> buf) override {
    VMI_TRY(size_t n, inner_.read(buf));
    if (n == 0) return Error(ErrorKind::kExtract, "gzip stream is truncated");
    return n;
  }

 private:
  ChunkReader inner_;
};

TEST(TarReader, InputErrorsKeepTheirKindAndGainContext) {
  TarBuilder t;
  t.file("a", "1");
  t.file("b", std::string(5000, 'b'));
  std::string tar = t.finish();
  tar.resize(tar.size() - 2048);  // the source then fails instead of ending
  FailingReader in(tar);
  auto r = read_all_entries(in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind(), ErrorKind::kExtract);
  EXPECT_NE(r.error().message().find("gzip stream is truncated"), std::string::npos);
  EXPECT_NE(r.error().message().find("'b'"), std::string::npos) << r.error().message();
}

TEST(TarReader, DrainsTrailingBytesSoTheDiffIdCoversThem) {
  TarBuilder t;
  t.file("a", "1");
  std::string tar = t.finish() + std::string(10240, '\0') + "trailer";
  auto hashing = std::make_unique<io::HashingReader>(std::make_unique<ChunkReader>(tar, 333), "t");
  io::HashingReader* h = hashing.get();
  auto entries = read_all_entries(*hashing);
  ASSERT_TRUE(entries.ok()) << entries.error().describe();
  EXPECT_EQ(h->bytes(), tar.size());
  EXPECT_EQ(h->digest(), io::sha256_digest(tar));
}

TEST(TarReader, LargeFileStreamsInBoundedBlocks) {
  TarBuilder t;
  std::string big(8 << 20, 'z');
  t.file("big", big);
  std::string tar = t.finish();
  ChunkReader in(tar, 1 << 20);
  auto reader = TarReader::open(in, "t");
  ASSERT_TRUE(reader.ok());
  auto e = (*reader)->next();
  ASSERT_TRUE(e.ok() && *e != nullptr);
  uint64_t total = 0, largest = 0;
  while (true) {
    auto b = (*reader)->read_block();
    ASSERT_TRUE(b.ok());
    if (!*b) break;
    EXPECT_EQ((*b)->offset, total);
    total += (*b)->bytes.size();
    largest = std::max<uint64_t>(largest, (*b)->bytes.size());
  }
  EXPECT_EQ(total, big.size());
  EXPECT_LE(largest, 1u << 20);
}

}  // namespace
}  // namespace vmimage::tar
