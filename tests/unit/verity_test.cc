// dm-verity trees: byte for byte what `veritysetup format` writes with the same
// salt, UUID and hash offset; accepted by `veritysetup verify`; the streaming
// and read-back paths agree; check_tree finds damage in data, tree and superblock.
#include "verity/tree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "util/file.h"

namespace vmimage::verity {
namespace {

struct CommandResult {
  int status;
  std::string output;
};

CommandResult run(const std::string& cmd) {
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  return {pclose(p), out};
}

class VerityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/verity-test.XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { run("rm -rf " + dir_); }

  // A file of `size` pseudo-random bytes with a hole in the middle when big enough.
  std::string make_file(const std::string& name, uint64_t size, uint32_t seed) {
    std::string path = dir_ + "/" + name;
    UniqueFd fd(::open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644));
    EXPECT_TRUE(fd.valid());
    std::mt19937 rng(seed);
    std::vector<std::byte> data(size);
    for (auto& b : data) b = static_cast<std::byte>(rng());
    if (size > 5 * kBlock) std::fill(data.begin() + 2 * kBlock, data.begin() + 4 * kBlock, std::byte{0});
    EXPECT_TRUE(pwrite_all(fd.get(), data, 0, path).ok());
    return path;
  }

  VerityInfo add_tree(const std::string& path, const Salt& salt) {
    UniqueFd fd(::open(path.c_str(), O_RDWR));
    auto info = append_tree_by_reading(fd.get(), path, dir_, salt);
    EXPECT_TRUE(info.ok()) << info.error().message();
    return info.ok() ? *info : VerityInfo{};
  }

  std::string dir_;
};

std::string uuid_of(const std::string& path, uint64_t hash_offset) {
  CommandResult r = run("veritysetup dump --hash-offset=" + std::to_string(hash_offset) + " " + path);
  auto at = r.output.find("UUID:");
  if (at == std::string::npos) return "";
  auto end = r.output.find('\n', at);
  std::string v = r.output.substr(at + 5, end - at - 5);
  v.erase(0, v.find_first_not_of(" \t"));
  return v;
}

TEST_F(VerityTest, MatchesVeritysetupFormatByteForByte) {
  // 1 block (no levels), 2, 128 (one level, full), 129 (two levels), odd sizes.
  for (uint64_t size : {uint64_t{4096}, uint64_t{8192}, uint64_t{128 * 4096}, uint64_t{129 * 4096},
                        uint64_t{5000}, uint64_t{16385 * 4096 + 17}}) {
    SCOPED_TRACE(size);
    Salt salt = derive_salt("test " + std::to_string(size));
    std::string ours = make_file("ours", size, static_cast<uint32_t>(size));
    VerityInfo info = add_tree(ours, salt);
    EXPECT_EQ(info.data_size % kBlock, 0u);
    EXPECT_EQ(info.data_size, (size + kBlock - 1) / kBlock * kBlock);
    EXPECT_EQ(info.hash_offset, info.data_size);

    CommandResult verify = run("veritysetup verify " + ours + " " + ours + " " + info.root_hash +
                     " --hash-offset=" + std::to_string(info.hash_offset));
    EXPECT_EQ(verify.status, 0) << verify.output;

    // veritysetup format of the same data, salt, UUID and offset: the same file.
    std::string theirs = make_file("theirs", size, static_cast<uint32_t>(size));
    ASSERT_EQ(::truncate(theirs.c_str(), static_cast<off_t>(info.data_size)), 0);
    std::string uuid = uuid_of(ours, info.hash_offset);
    ASSERT_FALSE(uuid.empty());
    CommandResult format = run("veritysetup format " + theirs + " " + theirs + " --salt=" + info.salt +
                     " --uuid=" + uuid + " --hash-offset=" + std::to_string(info.hash_offset) +
                     " --data-block-size=4096 --hash-block-size=4096");
    ASSERT_EQ(format.status, 0) << format.output;
    EXPECT_NE(format.output.find(info.root_hash), std::string::npos) << format.output;
    EXPECT_EQ(run("cmp " + ours + " " + theirs).status, 0);

    UniqueFd fd(::open(ours.c_str(), O_RDONLY));
    EXPECT_TRUE(check_tree(fd.get(), ours, info, dir_).ok());
  }
}

TEST_F(VerityTest, StreamingRunsAndReadBackAgree) {
  const uint64_t size = 300 * kBlock + 100;
  std::string whole = make_file("whole", size, 7);
  Salt salt = derive_salt("stream");
  VerityInfo expected = add_tree(whole, salt);

  // The same bytes, hashed the way the EROFS writer does: a run of odd-sized
  // writes with gaps (zeros) over blocks 1..200, then blocks 0 and 200.. read back.
  std::string copy = make_file("copy", size, 7);
  UniqueFd fd(::open(copy.c_str(), O_RDWR));
  auto hasher = DataHasher::create(dir_, salt);
  ASSERT_TRUE(hasher.ok());
  std::vector<std::byte> buf(200 * kBlock);
  ASSERT_TRUE(pread_exact(fd.get(), buf, kBlock, copy).ok());
  uint64_t pos = 0;
  size_t step = 1;
  while (pos < buf.size()) {
    size_t n = std::min<size_t>(step * 977, buf.size() - pos);
    bool zeros = std::all_of(buf.begin() + pos, buf.begin() + pos + n,
                             [](std::byte b) { return b == std::byte{0}; });
    if (!zeros) {
      ASSERT_TRUE((*hasher)->add(kBlock + pos, std::span(buf).subspan(pos, n)).ok());
    }
    pos += n;
    step = step * 3 % 17 + 1;
  }
  // A run that ends in skipped bytes stops short: the zeros up to block 201 are
  // the rest of its last block, so end exactly on a block boundary via add().
  std::vector<std::byte> none;
  ASSERT_TRUE((*hasher)->add(kBlock + buf.size(), none).ok());
  ASSERT_TRUE((*hasher)->end_run().ok());
  ASSERT_TRUE((*hasher)->read_back(fd.get(), 201 * kBlock, size, copy).ok());
  ASSERT_TRUE((*hasher)->read_back(fd.get(), 0, kBlock, copy).ok());
  auto info = (*hasher)->append_tree(fd.get(), size, copy);
  ASSERT_TRUE(info.ok()) << info.error().message();
  EXPECT_EQ(info->root_hash, expected.root_hash);
  EXPECT_EQ(run("cmp " + whole + " " + copy).status, 0);
}

TEST_F(VerityTest, MissingOrDoubleBlocksAreErrors) {
  std::string path = make_file("f", 10 * kBlock, 3);
  UniqueFd fd(::open(path.c_str(), O_RDWR));
  auto hasher = DataHasher::create(dir_, derive_salt("x"));
  ASSERT_TRUE(hasher.ok());
  ASSERT_TRUE((*hasher)->read_back(fd.get(), 0, 4 * kBlock, path).ok());
  ASSERT_TRUE((*hasher)->read_back(fd.get(), 6 * kBlock, 10 * kBlock, path).ok());
  auto info = (*hasher)->append_tree(fd.get(), 10 * kBlock, path);
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.error().message().find("never"), std::string::npos) << info.error().message();

  auto twice = DataHasher::create(dir_, derive_salt("x"));
  ASSERT_TRUE(twice.ok());
  ASSERT_TRUE((*twice)->read_back(fd.get(), 0, 6 * kBlock, path).ok());
  ASSERT_TRUE((*twice)->read_back(fd.get(), 4 * kBlock, 10 * kBlock, path).ok());
  info = (*twice)->append_tree(fd.get(), 10 * kBlock, path);
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.error().message().find("twice"), std::string::npos) << info.error().message();
}

TEST_F(VerityTest, CheckTreeFindsDamage) {
  std::string path = make_file("f", 1000 * kBlock, 11);
  VerityInfo info = add_tree(path, derive_salt("damage"));
  struct Case {
    uint64_t offset;
    const char* says;
  };
  for (Case c : {Case{12345, "does not hash"}, Case{info.hash_offset + 100, "superblock"},
                 Case{info.hash_offset + kBlock + 5000, "hash tree"}}) {
    SCOPED_TRACE(c.offset);
    UniqueFd fd(::open(path.c_str(), O_RDWR));
    std::byte b;
    ASSERT_EQ(::pread(fd.get(), &b, 1, static_cast<off_t>(c.offset)), 1);
    std::byte flipped = b ^ std::byte{0x20};
    ASSERT_EQ(::pwrite(fd.get(), &flipped, 1, static_cast<off_t>(c.offset)), 1);
    Status s = check_tree(fd.get(), path, info, dir_);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().kind(), ErrorKind::kStoreRead);
    EXPECT_NE(s.error().message().find(c.says), std::string::npos) << s.error().message();
    EXPECT_NE(run("veritysetup verify " + path + " " + path + " " + info.root_hash +
                  " --hash-offset=" + std::to_string(info.hash_offset))
                  .status,
              0);
    ASSERT_EQ(::pwrite(fd.get(), &b, 1, static_cast<off_t>(c.offset)), 1);
    EXPECT_TRUE(check_tree(fd.get(), path, info, dir_).ok());
  }
}

TEST_F(VerityTest, SameInputSameTree) {
  std::string a = make_file("a", 77 * kBlock + 3, 5);
  std::string b = make_file("b", 77 * kBlock + 3, 5);
  VerityInfo ia = add_tree(a, derive_salt("same"));
  VerityInfo ib = add_tree(b, derive_salt("same"));
  EXPECT_EQ(ia.root_hash, ib.root_hash);
  EXPECT_EQ(run("cmp " + a + " " + b).status, 0);
  EXPECT_NE(add_tree(make_file("c", 77 * kBlock + 3, 5), derive_salt("other")).root_hash,
            ia.root_hash);
}

}  // namespace
}  // namespace vmimage::verity
