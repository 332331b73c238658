// The EROFS on-disk pieces on their own: struct layout, crc32c and the superblock
// checksum (checked against images from mkfs.erofs and by fsck.erofs), device
// numbers, xattr name prefixes, directory block packing and parsing.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>

#include "erofs_test_util.h"
#include "fs/erofs/dir.h"
#include "fs/erofs/format.h"
#include "fs/erofs/reader.h"
#include "fs/erofs/writer.h"
#include "fs/erofs/xattr.h"

namespace vmimage::erofs {
namespace {

using testing::TempDir;

int shell(const std::string& cmd) {
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool have(const char* tool) {
  return shell(std::string("command -v ") + tool + " >/dev/null") == 0;
}

TEST(ErofsFormat, StructsMatchTheKernelLayout) {
  EXPECT_EQ(sizeof(SuperBlock), 128u);
  EXPECT_EQ(offsetof(SuperBlock, root_nid), 0x0Eu);
  EXPECT_EQ(offsetof(SuperBlock, inos), 0x10u);
  EXPECT_EQ(offsetof(SuperBlock, blocks), 0x24u);
  EXPECT_EQ(offsetof(SuperBlock, meta_blkaddr), 0x28u);
  EXPECT_EQ(offsetof(SuperBlock, volume_name), 0x40u);
  EXPECT_EQ(offsetof(SuperBlock, dirblkbits), 0x5Au);
  EXPECT_EQ(sizeof(InodeCompact), 32u);
  EXPECT_EQ(offsetof(InodeCompact, size), 0x08u);
  EXPECT_EQ(offsetof(InodeCompact, ino), 0x14u);
  EXPECT_EQ(sizeof(InodeExtended), 64u);
  EXPECT_EQ(offsetof(InodeExtended, u), 0x10u);
  EXPECT_EQ(offsetof(InodeExtended, uid), 0x18u);
  EXPECT_EQ(offsetof(InodeExtended, mtime_nsec), 0x28u);
  EXPECT_EQ(sizeof(XattrIbodyHeader), 12u);
  EXPECT_EQ(sizeof(XattrEntry), 4u);
  EXPECT_EQ(sizeof(Dirent), 12u);
  EXPECT_EQ(offsetof(Dirent, nameoff), 8u);
  EXPECT_EQ(offsetof(Dirent, file_type), 10u);
  EXPECT_EQ(inode_format(true, kLayoutFlatInline), 5u);
  EXPECT_EQ(inode_format(false, kLayoutFlatPlain), 0u);
}

TEST(ErofsFormat, Crc32cMatchesTheStandardCheckValue) {
  std::string data = "123456789";
  // CRC-32C check value 0xE3069283 includes the final inversion the superblock omits.
  EXPECT_EQ(~crc32c_update(0xFFFFFFFFu, std::as_bytes(std::span(data))), 0xE3069283u);
  EXPECT_EQ(crc32c_update(0xFFFFFFFFu, {}), 0xFFFFFFFFu);
}

// mkfs.erofs (erofs-utils) is an independent writer: our checksum of its superblock
// must equal the one it stored.
TEST(ErofsFormat, ChecksumAgreesWithMkfsErofs) {
  if (!have("mkfs.erofs")) GTEST_SKIP() << "mkfs.erofs is not installed";
  TempDir dir;
  std::string src = dir.path() + "/src";
  ASSERT_EQ(
      shell("mkdir -p " + src + "/d && echo hello > " + src + "/d/f && ln -s f " + src + "/l"), 0);
  std::string image = dir.path() + "/ref.img";
  ASSERT_EQ(shell("mkfs.erofs -T 12345 '" + image + "' '" + src + "' >/dev/null 2>&1"), 0);
  UniqueFd fd(::open(image.c_str(), O_RDONLY | O_CLOEXEC));
  std::vector<std::byte> region(checksum_length(4096));
  ASSERT_TRUE(pread_exact(fd.get(), region, kSuperOffset, "ref").ok());
  SuperBlock sb;
  std::memcpy(&sb, region.data(), sizeof sb);
  ASSERT_TRUE(sb.feature_compat & kFeatureCompatSbChksum);
  EXPECT_EQ(superblock_checksum(region), sb.checksum);
  region[500] ^= std::byte{1};
  EXPECT_NE(superblock_checksum(region), sb.checksum);
}

// fsck.erofs recomputes the checksum of our superblock (and walks the tree).
TEST(ErofsFormat, FsckErofsAcceptsOurImages) {
  if (!have("fsck.erofs")) GTEST_SKIP() << "fsck.erofs is not installed";
  TempDir dir;
  std::string image = dir.path() + "/ours.img";
  UniqueFd fd(::open(image.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  auto w = ImageWriter::create(fd.get(), image, dir.path());
  ASSERT_TRUE(w.ok());
  testing::TreeMaker m(**w);
  testing::build_rich_tree(m, /*huge=*/false);
  ASSERT_TRUE((*w)->finish(m.tree).ok());
  std::string out = dir.path() + "/fsck.out";
  EXPECT_EQ(shell("fsck.erofs --extract='" + dir.path() + "/x' '" + image + "' >" + out + " 2>&1"),
            0);
  EXPECT_EQ(shell("grep -q '<E>' " + out), 1) << "fsck.erofs reported errors";
  EXPECT_EQ(shell("cmp -s " + dir.path() + "/x/etc/size-4097 /dev/null"), 1);
  EXPECT_EQ(shell("test \"$(stat -c %s " + dir.path() + "/x/etc/size-3145851)\" = 3145851"), 0);

  char byte = 0x55;
  ASSERT_EQ(::pwrite(fd.get(), &byte, 1, 2000), 1);  // inside the checksummed range
  EXPECT_EQ(shell("fsck.erofs '" + image + "' 2>&1 | grep -q \"chksum doesn't match\""), 0);
}

TEST(ErofsFormat, DeviceNumbersUseTheKernelEncoding) {
  EXPECT_EQ(*encode_dev(8, 1), 0x801u);
  EXPECT_EQ(*encode_dev(5, 0x12345), 0x12300545u);
  EXPECT_EQ(*encode_dev(4095, 0xFFFFF), 0xFFFFFFFFu);
  EXPECT_FALSE(encode_dev(4096, 0));
  EXPECT_FALSE(encode_dev(0, 0x100000));
  uint32_t major = 0, minor = 0;
  decode_dev(0x12300545u, major, minor);
  EXPECT_EQ(major, 5u);
  EXPECT_EQ(minor, 0x12345u);
}

TEST(ErofsFormat, XattrNamesSplitIntoPrefixIndexes) {
  auto check = [](std::string_view name, uint8_t index, std::string_view suffix) {
    std::optional<XattrName> x = split_xattr_name(name);
    ASSERT_TRUE(x) << name;
    EXPECT_EQ(x->index, index) << name;
    EXPECT_EQ(x->suffix, suffix) << name;
    EXPECT_EQ(std::string(xattr_prefix(index)) + std::string(suffix), name);
  };
  check("user.mime", kXattrUser, "mime");
  check("trusted.overlay.opaque", kXattrTrusted, "overlay.opaque");
  check("security.capability", kXattrSecurity, "capability");
  check("system.posix_acl_access", kXattrPosixAclAccess, "");
  check("system.posix_acl_default", kXattrPosixAclDefault, "");
  for (std::string_view bad :
       {"user.", "system.posix_acl_accessx", "system.foo", "os2.x", "", "usr.x", "security"}) {
    EXPECT_FALSE(split_xattr_name(bad)) << bad;
  }
  EXPECT_TRUE(split_xattr_name("user." + std::string(250, 'a')));
  EXPECT_FALSE(split_xattr_name("user." + std::string(251, 'a')));
}

TEST(ErofsFormat, XattrEntriesRoundTrip) {
  std::vector<tree::Xattr> xs = {{"security.capability", std::string(20, '\x01')},
                                 {"trusted.overlay.opaque", "y"},
                                 {"user.empty", ""},
                                 {"user.x", std::string(1000, 'x')}};
  Result<uint32_t> size = xattr_ibody_size(xs);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 12u + 36 + 20 + 12 + 1008);  // each entry 4 + suffix + value, 4-aligned
  EXPECT_EQ(xattr_ibody_size_from_icount(xattr_icount(*size)), *size);
  std::vector<std::byte> buf(*size);
  encode_xattrs(xs, buf);
  size_t pos = 12;
  for (const tree::Xattr& want : xs) {
    auto e = decode_xattr_entry(std::span(buf).subspan(pos));
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->first, want);
    EXPECT_EQ(e->second % 4, 0u);
    pos += e->second;
  }
  EXPECT_EQ(pos, buf.size());
  EXPECT_EQ(*xattr_ibody_size({}), 0u);
  EXPECT_EQ(xattr_icount(0), 0u);
  // A value that claims to run past the region is an error.
  buf[12 + 2] = std::byte{0xFF};
  EXPECT_FALSE(decode_xattr_entry(std::span(buf).subspan(12, 40)).ok());
}

TEST(ErofsFormat, DirectoryEntriesSortBytewiseWithDots) {
  tree::Tree t;
  for (const char* n : {"b", "-", ".-", ".a", "\xff", "A", "..."}) {
    t.inode(0).children[n] = t.add(tree::Inode{});
  }
  std::vector<std::string> names;
  for (const DirEntryRef& e : sorted_dir_entries(t, 0, 0)) names.emplace_back(e.name);
  EXPECT_EQ(names, (std::vector<std::string>{"-", ".", ".-", "..", "...", ".a", "A", "b", "\xff"}));
}

TEST(ErofsFormat, DirectoryBlocksPackAndParse) {
  tree::Tree t;
  for (int i = 0; i < 100; ++i) {
    t.inode(0).children[std::string(100, 'a') + std::to_string(1000 + i)] = t.add(tree::Inode{});
  }
  std::vector<DirEntryRef> entries = sorted_dir_entries(t, 0, 0);
  DirPacking p = pack_dir(entries, 1024);
  // 116 bytes a child: 8 per 1024-byte block, "." and ".." (27 bytes) fit beside
  // the first 8.
  EXPECT_EQ(p.first.size() - 1, 13u);
  EXPECT_EQ(p.first[1], 10u);
  EXPECT_EQ(p.first[2], 18u);
  std::vector<std::byte> content((p.first.size() - 1) * 1024);
  encode_dir(
      entries, p, 1024, [](tree::InodeId id) { return uint64_t{id} * 10; },
      [](tree::InodeId) { return uint8_t{kFtRegular}; }, content);
  std::vector<DirEntry> back;
  for (uint64_t off = 0; off < p.size; off += 1024) {
    std::span<const std::byte> block =
        std::span(content).subspan(off, std::min<uint64_t>(1024, p.size - off));
    ASSERT_TRUE(decode_dir_block(block, back).ok());
  }
  ASSERT_EQ(back.size(), entries.size());
  for (size_t i = 0; i < back.size(); ++i) {
    EXPECT_EQ(back[i].name, entries[i].name);
    EXPECT_EQ(back[i].nid, uint64_t{entries[i].id} * 10);
  }
  // The directory ends at its last name: no padding counted in i_size.
  EXPECT_EQ(p.size % 1024, (100 - 96) * 116u);
}

TEST(ErofsFormat, DirectoryBlockParserRejectsGarbage) {
  std::vector<DirEntry> out;
  std::vector<std::byte> block(64);
  auto set16 = [&](size_t at, uint16_t v) { std::memcpy(block.data() + at, &v, 2); };
  EXPECT_FALSE(decode_dir_block(std::span(block).first(8), out).ok());
  set16(8, 0);
  EXPECT_FALSE(decode_dir_block(block, out).ok()) << "no entries";
  set16(8, 13);
  EXPECT_FALSE(decode_dir_block(block, out).ok()) << "nameoff not a multiple of 12";
  set16(8, 64);
  EXPECT_FALSE(decode_dir_block(block, out).ok()) << "nameoff at the block end";
  set16(8, 24);
  set16(20, 23);
  EXPECT_FALSE(decode_dir_block(block, out).ok()) << "names overlap the dirents";
  set16(20, 26);
  block[24] = std::byte{'a'};
  block[25] = std::byte{'b'};
  block[26] = std::byte{'c'};
  ASSERT_TRUE(decode_dir_block(block, out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].name, "ab");
  EXPECT_EQ(out[1].name, "c");  // the last name stops at the first NUL
  set16(20, 40);
  block[40] = std::byte{0};
  EXPECT_FALSE(decode_dir_block(block, out).ok()) << "empty last name";
}

}  // namespace
}  // namespace vmimage::erofs
