// ext4 writer building blocks: directory layouts (linear and htree, parsed
// back from the rendered blocks), extent tree sizes, time encoding, UUIDs.
#include <gtest/gtest.h>

#include <ext2fs/ext2fs.h>

#include <cstring>
#include <map>
#include <set>

#include "fs/ext4/dir_layout.h"
#include "fs/ext4/extent_tree.h"
#include "io/identity.h"
#include "tree/digest.h"
#include "fs/ext4/inode.h"
#include "fs/ext4/plan.h"

namespace vmimage::ext4 {
namespace {

constexpr std::array<uint32_t, 4> kSeed{0x11111111, 0x22222222, 0x33333333, 0x44444444};

uint32_t get16(const unsigned char* p) {
  return p[0] | (p[1] << 8);
}
uint32_t get32(const unsigned char* p) {
  return get16(p) | (get16(p + 2) << 16);
}

struct Parsed {
  std::string name;
  uint32_t ino;
  uint8_t type;
};

// Walks a leaf (or linear) block's entries up to the 12-byte checksum tail.
std::vector<Parsed> parse_leaf(const unsigned char* b) {
  std::vector<Parsed> out;
  size_t off = 0;
  while (off < 4084) {
    uint32_t len = get16(b + off + 4);
    EXPECT_GE(len, 8u);
    EXPECT_EQ(len % 4, 0u);
    if (len < 8) break;
    if (get32(b + off) != 0)
      out.push_back({std::string(reinterpret_cast<const char*>(b + off + 8), b[off + 6]),
                     get32(b + off), b[off + 7]});
    off += len;
  }
  EXPECT_EQ(off, 4084u);
  EXPECT_EQ(get16(b + 4084 + 4), 12u);  // the checksum tail
  EXPECT_EQ(b[4084 + 7], 0xDE);
  return out;
}

std::vector<DirEntry> entries(size_t n, size_t name_len) {
  std::vector<DirEntry> v;
  for (size_t i = 0; i < n; ++i) {
    std::string name = std::to_string(i);
    name += std::string(name_len > name.size() ? name_len - name.size() : 0, 'x');
    v.push_back(DirEntry{name, static_cast<uint32_t>(100 + i), EXT2_FT_REG_FILE});
  }
  return v;
}

uint32_t hash_of(const std::string& name) {
  ext2_dirhash_t hash = 0, minor = 0;
  ext2fs_dirhash2(EXT2_HASH_HALF_MD4, name.data(), static_cast<int>(name.size()), nullptr, 0,
                  kSeed.data(), &hash, &minor);
  return hash;
}

TEST(Ext4DirLayout, SmallDirectoryIsOneLinearBlock) {
  // "." and ".." (24 bytes) + 255 entries of 16 bytes = 4104 > 4084, 254 fit.
  Result<DirLayout> fits = DirLayout::plan(12, 2, entries(253, 8), kSeed);
  ASSERT_TRUE(fits.ok());
  EXPECT_FALSE(fits->indexed());
  EXPECT_EQ(fits->block_count(), 1u);
  std::array<unsigned char, 4096> block;
  fits->render(0, block);
  std::vector<Parsed> got = parse_leaf(block.data());
  ASSERT_EQ(got.size(), 255u);
  EXPECT_EQ(got[0].name, ".");
  EXPECT_EQ(got[0].ino, 12u);
  EXPECT_EQ(got[1].name, "..");
  EXPECT_EQ(got[1].ino, 2u);
  EXPECT_EQ(got[2].type, EXT2_FT_REG_FILE);

  Result<DirLayout> spills = DirLayout::plan(12, 2, entries(256, 8), kSeed);
  ASSERT_TRUE(spills.ok());
  EXPECT_TRUE(spills->indexed());
  EXPECT_EQ(spills->block_count(), 3u);  // dx_root + two leaves
}

TEST(Ext4DirLayout, EmptyDirectory) {
  Result<DirLayout> d = DirLayout::plan(12, 12, {}, kSeed);
  ASSERT_TRUE(d.ok());
  std::array<unsigned char, 4096> block;
  d->render(0, block);
  EXPECT_EQ(parse_leaf(block.data()).size(), 2u);
  DirLayout::render_empty(block);
  EXPECT_TRUE(parse_leaf(block.data()).empty());
}

// Parses the htree back: every entry appears once, in the leaf its hash
// selects, and leaves are full except for entry-size slack.
void check_htree(const DirLayout& d, size_t n, size_t levels) {
  std::vector<std::array<unsigned char, 4096>> blocks(d.block_count());
  for (size_t i = 0; i < blocks.size(); ++i) d.render(i, blocks[i]);
  const unsigned char* root = blocks[0].data();
  EXPECT_EQ(get16(root + 4), 12u);
  EXPECT_EQ(get16(root + 12 + 4), 4084u);
  EXPECT_EQ(root[28], EXT2_HASH_HALF_MD4);
  EXPECT_EQ(root[29], 8);
  ASSERT_EQ(root[30], levels);
  EXPECT_EQ(get16(root + 32), 507u);  // limit leaves room for the dx tail
  // (hash lower bound, block) for every leaf, following the index levels.
  std::vector<std::pair<uint32_t, uint32_t>> leaves;
  auto read_index = [&](const unsigned char* p, uint32_t low, auto& out) {
    uint32_t count = get16(p + 2);
    for (uint32_t i = 0; i < count; ++i)
      out.emplace_back(i == 0 ? low : get32(p + 8 * i), get32(p + 8 * i + 4));
  };
  std::vector<std::pair<uint32_t, uint32_t>> top;
  read_index(root + 32, 0, top);
  if (levels == 0) {
    leaves = top;
  } else {
    for (auto [low, block] : top) {
      const unsigned char* node = blocks[block].data();
      EXPECT_EQ(get16(node + 4), 4096u);
      EXPECT_EQ(get16(node + 8), 510u);
      read_index(node + 8, low, leaves);
    }
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < leaves.size(); ++i) {
    uint32_t low = leaves[i].first & ~1u;
    uint32_t high = i + 1 < leaves.size() ? leaves[i + 1].first : UINT32_MAX;
    for (const Parsed& p : parse_leaf(blocks[leaves[i].second].data())) {
      uint32_t h = hash_of(p.name);
      EXPECT_GE(h, low) << p.name;
      EXPECT_LE(h, high) << p.name;
      EXPECT_TRUE(seen.insert(p.name).second) << p.name;
    }
  }
  EXPECT_EQ(seen.size(), n);
}

TEST(Ext4DirLayout, HtreeOneLevel) {
  Result<DirLayout> d = DirLayout::plan(12, 2, entries(3000, 20), kSeed);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->indexed());
  check_htree(*d, 3000, 0);
}

TEST(Ext4DirLayout, HtreeTwoLevels) {
  // 255-byte names: 15 per leaf, so 9000 entries need 600 leaves > 507.
  Result<DirLayout> d = DirLayout::plan(12, 2, entries(9000, 255), kSeed);
  ASSERT_TRUE(d.ok());
  check_htree(*d, 9000, 1);
}

TEST(Ext4DirLayout, RejectsBadNames) {
  for (std::string bad : {std::string(""), std::string("."), std::string(".."), std::string("a/b"),
                          std::string("a\0b", 3), std::string(256, 'x')}) {
    std::vector<DirEntry> v{DirEntry{bad, 20, EXT2_FT_REG_FILE}};
    EXPECT_FALSE(DirLayout::plan(12, 2, v, kSeed).ok()) << bad;
  }
}

TEST(Ext4ExtentTree, BlocksOutsideTheInode) {
  EXPECT_EQ(extent_tree_blocks(0), 0u);
  EXPECT_EQ(extent_tree_blocks(4), 0u);
  EXPECT_EQ(extent_tree_blocks(5), 1u);
  EXPECT_EQ(extent_tree_blocks(340 * 4), 4u);
  EXPECT_EQ(extent_tree_blocks(340 * 4 + 1), 6u);  // 5 leaves + 1 index block
}

TEST(Ext4Journal, DefaultSizeShrinksToFit) {
  constexpr uint64_t kGiBBlocks = 262144;
  EXPECT_EQ(journal_blocks(kGiBBlocks, kGiBBlocks), 8192u);  // mke2fs: 32 MiB for 1 GiB
  EXPECT_EQ(journal_blocks(256 * kGiBBlocks, 256 * kGiBBlocks), 262144u);
  EXPECT_EQ(journal_blocks(kGiBBlocks, 5000), 4096u);  // halved beside the content
  EXPECT_EQ(journal_blocks(kGiBBlocks, 100), kMinJournalBlocks);
  EXPECT_EQ(journal_blocks(2048, 1500), kMinJournalBlocks);
}

TEST(Ext4Inode, TimesUseEpochBitsAndNanoseconds) {
  ext2_inode_large inode{};
  set_times(inode, -1, 5);
  EXPECT_EQ(inode.i_mtime, 0xffffffffu);
  EXPECT_EQ(inode.i_mtime_extra, 5u << 2);
  set_times(inode, int64_t{1} << 31, 999999999);
  EXPECT_EQ(inode.i_mtime, 0x80000000u);
  EXPECT_EQ(inode.i_mtime_extra, (999999999u << 2) | 1);
  set_times(inode, (int64_t{1} << 32) + 7, 0);
  EXPECT_EQ(inode.i_mtime, 7u);
  EXPECT_EQ(inode.i_mtime_extra, 1u);
  set_times(inode, int64_t{1} << 40, 2000000000);  // clamped: year 2446, ns < 1e9
  EXPECT_EQ(inode.i_mtime, 0x7fffffffu);
  EXPECT_EQ(inode.i_mtime_extra, (999999999u << 2) | 3);
  EXPECT_EQ(inode.i_atime, inode.i_mtime);
  EXPECT_EQ(inode.i_crtime_extra, inode.i_mtime_extra);
}

TEST(Ext4Inode, DeviceNumbers) {
  tree::Inode dev;
  dev.type = tree::FileType::kBlockDevice;
  dev.rdev_major = 8;
  dev.rdev_minor = 1;
  ext2_inode_large small = make_inode(dev, 1);
  EXPECT_EQ(small.i_block[0], 0x0801u);
  EXPECT_EQ(small.i_block[1], 0u);
  dev.rdev_major = 259;
  dev.rdev_minor = 0x12345;
  ext2_inode_large big = make_inode(dev, 1);
  EXPECT_EQ(big.i_block[0], 0u);
  EXPECT_EQ(big.i_block[1], 0x45u | (259u << 8) | (0x12300u << 12));
  EXPECT_EQ(big.i_mode & 0xF000, LINUX_S_IFBLK);
}

TEST(Ext4Inode, OwnersAndXattrSpace) {
  tree::Inode f;
  f.uid = 0x12345678;
  f.gid = 0xfedcba98;
  f.mode = 07777;
  ext2_inode_large inode = make_inode(f, 3);
  EXPECT_EQ(inode.i_uid | (inode.osd2.linux2.l_i_uid_high << 16), 0x12345678u);
  EXPECT_EQ(inode.i_gid | (inode.osd2.linux2.l_i_gid_high << 16), 0xfedcba98u);
  EXPECT_EQ(inode.i_mode, LINUX_S_IFREG | 07777);
  EXPECT_EQ(inode.i_links_count, 3u);
  EXPECT_EQ(inode.i_flags, static_cast<uint32_t>(EXT4_EXTENTS_FL));
  EXPECT_FALSE(xattrs_need_block({{"security.capability", std::string(20, 'c')}}));
  EXPECT_TRUE(xattrs_need_block({{"user.big", std::string(100, 'v')}}));
}

TEST(Identity, UuidFormatAndParse) {
  using namespace io;
  Uuid u = derive_uuid("test", {"a"});
  EXPECT_EQ(u[6] >> 4, 8);
  EXPECT_EQ(u[8] >> 6, 2);
  std::string text = format_uuid(u);
  ASSERT_EQ(text.size(), 36u);
  EXPECT_EQ(*parse_uuid(text), u);
  EXPECT_NE(derive16("test", {"a"}), derive16("test", {"b"}));
  EXPECT_NE(derive16("test", {"ab", ""}), derive16("test", {"a", "b"}));
  for (const char* bad :
       {"", "12345678-9abc-def0-0123-456789abcde", "12345678-9abc-def0-0123-456789abcdeg",
        "123456789abc-def0-0123-456789abcdef0", "12345678-9abc-def0-0123_456789abcdef"}) {
    EXPECT_FALSE(parse_uuid(bad).ok()) << bad;
  }
}

TEST(Identity, MetadataDigestCoversAttributes) {
  using tree::metadata_digest;
  tree::Tree a;
  tree::Inode f;
  f.data.size = 10;
  tree::InodeId id = a.add(f);
  a.inode(a.root()).children["f"] = id;
  std::string base = metadata_digest(a);
  tree::Tree b = a;
  b.inode(id).mtime_nsec = 1;
  EXPECT_NE(metadata_digest(b), base);
  b = a;
  b.inode(id).set_xattr("user.x", "");
  EXPECT_NE(metadata_digest(b), base);
  b = a;
  b.inode(b.root()).children["g"] = id;
  EXPECT_NE(metadata_digest(b), base);
  EXPECT_EQ(metadata_digest(a), base);
}

}  // namespace
}  // namespace vmimage::ext4
