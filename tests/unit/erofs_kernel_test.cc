// Kernel acceptance: images from ImageWriter must pass fsck.erofs and loop-mount
// read-only, and every attribute, xattr and byte seen through the mount must match
// the tree. Needs root (loop devices, mount); without it the tests are skipped,
// with it a failed mount is a failure. Mounts are undone even when a test fails.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <dirent.h>

#include <cstdio>
#include <cstring>
#include <fstream>

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

// Runs a shell command; returns its exit status and combined output.
std::pair<int, std::string> run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, "popen failed"};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

bool erofs_available() {
  std::ifstream f("/proc/filesystems");
  std::string all((std::istreambuf_iterator<char>(f)), {});
  if (all.find("erofs") != std::string::npos) return true;
  run("modprobe erofs");
  std::ifstream g("/proc/filesystems");
  all.assign((std::istreambuf_iterator<char>(g)), {});
  return all.find("erofs") != std::string::npos;
}

// A read-only loop mount that is undone when it goes out of scope.
class LoopMount {
 public:
  LoopMount(const std::string& image, const std::string& dir) : dir_(dir) {
    ::mkdir(dir.c_str(), 0755);
    auto [rc, out] = run("mount -t erofs -o loop,ro '" + image + "' '" + dir + "'");
    mounted_ = rc == 0;
    if (!mounted_) error_ = out + run("dmesg | tail -n 5").second;
  }
  ~LoopMount() {
    if (!mounted_) return;
    // mount -o loop sets autoclear: the loop device goes with the last unmount.
    if (::umount2(dir_.c_str(), 0) != 0) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool ok() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string dir_;
  bool mounted_ = false;
  std::string error_;
};

std::vector<std::string> list_xattrs(const std::string& path) {
  std::vector<char> buf(1 << 20);
  ssize_t n = ::llistxattr(path.c_str(), buf.data(), buf.size());
  std::vector<std::string> names;
  for (ssize_t i = 0; i < n;) {
    names.emplace_back(buf.data() + i);
    i += static_cast<ssize_t>(names.back().size()) + 1;
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Compares a file's bytes through the mount: everything for files up to 16 MiB,
// else the data ranges plus a MiB after each (holes, offsets past 4 GiB).
void expect_content(const std::string& path, const FileSpec& spec) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(fd.valid()) << path;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  if (spec.size <= (16u << 20)) {
    ranges.push_back({0, spec.size});
  } else {
    for (auto [start, end] : spec.data)
      ranges.push_back({start, std::min(spec.size, end + (1 << 20))});
  }
  std::vector<std::byte> want(1 << 20), got(1 << 20);
  for (auto [start, stop] : ranges) {
    for (uint64_t off = start; off < stop; off += want.size()) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(want.size(), stop - off));
      testing::expected_bytes(spec, off, std::span(want).first(n));
      Status s = pread_exact(fd.get(), std::span(got).first(n), off, path);
      ASSERT_TRUE(s.ok()) << s.error().describe();
      ASSERT_TRUE(std::equal(want.begin(), want.begin() + n, got.begin()))
          << path << ": content differs in [" << off << ", " << off + n << ")";
    }
  }
  char extra;
  EXPECT_EQ(::pread(fd.get(), &extra, 1, static_cast<off_t>(spec.size)), 0) << path;
}

// Walks the tree and the mount side by side and compares everything stat(2),
// readlink(2), the xattr calls and read(2) can see.
class MountChecker {
 public:
  MountChecker(const tree::Tree& t, const std::map<tree::InodeId, FileSpec>& specs)
      : tree_(t), specs_(specs), links_(tree::link_counts(t)) {}

  void check(tree::InodeId id, const std::string& path) {
    SCOPED_TRACE(path);
    const tree::Inode& n = tree_.inode(id);
    struct stat st;
    ASSERT_EQ(::lstat(path.c_str(), &st), 0) << path << ": " << strerror(errno);
    auto [it, fresh] = ino_.emplace(id, st.st_ino);
    EXPECT_EQ(it->second, st.st_ino) << "hardlinks must share an inode number";
    auto [it2, fresh2] = id_.emplace(st.st_ino, id);
    EXPECT_EQ(it2->second, id) << "distinct inodes share an inode number";
    EXPECT_EQ(st.st_mode & S_IFMT, tree::type_mode_bits(n.type));
    EXPECT_EQ(st.st_mode & 07777, n.mode);
    EXPECT_EQ(st.st_uid, n.uid);
    EXPECT_EQ(st.st_gid, n.gid);
    EXPECT_EQ(st.st_mtim.tv_sec, n.mtime_sec);
    EXPECT_EQ(static_cast<uint32_t>(st.st_mtim.tv_nsec), n.mtime_nsec);
    EXPECT_EQ(st.st_nlink, links_[id]);
    check_xattrs(n, path);
    switch (n.type) {
      case tree::FileType::kRegular:
        EXPECT_EQ(static_cast<uint64_t>(st.st_size), n.data.size);
        if (fresh && specs_.count(id)) expect_content(path, specs_.at(id));
        break;
      case tree::FileType::kSymlink: {
        std::vector<char> buf(8192);
        ssize_t len = ::readlink(path.c_str(), buf.data(), buf.size());
        ASSERT_GE(len, 0) << strerror(errno);
        EXPECT_EQ(std::string(buf.data(), static_cast<size_t>(len)), n.symlink_target);
        EXPECT_EQ(static_cast<uint64_t>(st.st_size), n.symlink_target.size());
        break;
      }
      case tree::FileType::kCharDevice:
      case tree::FileType::kBlockDevice:
        EXPECT_EQ(major(st.st_rdev), n.rdev_major);
        EXPECT_EQ(minor(st.st_rdev), n.rdev_minor);
        break;
      case tree::FileType::kDirectory:
        if (fresh) check_dir(n, path);
        break;
      default:
        break;
    }
    ++checked_;
  }
  size_t checked() const { return checked_; }

 private:
  void check_xattrs(const tree::Inode& n, const std::string& path) {
    std::vector<std::string> want;
    for (const tree::Xattr& x : n.xattrs) want.push_back(x.name);
    EXPECT_EQ(list_xattrs(path), want);
    bool user_ok = n.type == tree::FileType::kRegular || n.type == tree::FileType::kDirectory;
    for (const tree::Xattr& x : n.xattrs) {
      if (x.name.starts_with("user.") && !user_ok) continue;  // the VFS hides these
      std::vector<char> buf(70000);
      ssize_t len = ::lgetxattr(path.c_str(), x.name.c_str(), buf.data(), buf.size());
      ASSERT_GE(len, 0) << x.name << ": " << strerror(errno);
      EXPECT_EQ(std::string(buf.data(), static_cast<size_t>(len)), x.value) << x.name;
    }
  }

  void check_dir(const tree::Inode& n, const std::string& path) {
    std::vector<std::string> names;
    DIR* d = ::opendir(path.c_str());
    ASSERT_NE(d, nullptr) << strerror(errno);
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    std::vector<std::string> want;
    for (const auto& [name, child] : n.children) want.push_back(name);
    EXPECT_EQ(names, want);
    for (const auto& [name, child] : n.children) check(child, path + "/" + name);
  }

  const tree::Tree& tree_;
  const std::map<tree::InodeId, FileSpec>& specs_;
  std::vector<uint32_t> links_;
  std::map<tree::InodeId, ino_t> ino_;
  std::map<ino_t, tree::InodeId> id_;
  size_t checked_ = 0;
};

class ErofsKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for loop mounts";
    ASSERT_TRUE(erofs_available()) << "the erofs filesystem is not available to the kernel";
  }

  std::string path(const std::string& name) const { return dir_.path() + "/" + name; }

  // fsck.erofs (1.5 knows only 4 KiB blocks, and reports some errors with exit
  // status 0, hence the look at its output), then mount and compare the whole tree.
  void check_image(const std::string& image, const TreeMaker& m, uint32_t bs = 4096) {
    if (bs == 4096) {
      auto [rc, out] = run("fsck.erofs '" + image + "'");
      EXPECT_EQ(rc, 0) << "fsck.erofs " << image << ":\n" << out;
      EXPECT_EQ(out.find("<E>"), std::string::npos) << "fsck.erofs " << image << ":\n" << out;
    }
    LoopMount mount(image, image + ".mnt");
    ASSERT_TRUE(mount.ok()) << "mounting " << image << ":\n" << mount.error();
    MountChecker checker(m.tree, m.specs);
    checker.check(m.tree.root(), image + ".mnt");
    EXPECT_EQ(checker.checked(), [&] {
      size_t names = 1;
      for (tree::InodeId id : tree::reachable_inodes(m.tree))
        names += m.tree.inode(id).children.size();
      return names;
    }());
  }

  TempDir dir_;
};

Result<std::unique_ptr<ImageWriter>> new_writer(int fd, const std::string& dir,
                                                uint32_t bs = 4096) {
  Options o;
  o.block_size = bs;
  o.volume_label = "vmimage-test";
  return ImageWriter::create(fd, "test image", dir, o);
}

TEST_F(ErofsKernelTest, StreamedRichTreeMountsAndMatches) {
  std::string image = path("rich.img");
  UniqueFd fd(::open(image.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  auto w = new_writer(fd.get(), dir_.path());
  ASSERT_TRUE(w.ok());
  TreeMaker m(**w);
  testing::build_rich_tree(m, /*huge=*/true);
  Status s = (*w)->finish(m.tree);
  ASSERT_TRUE(s.ok()) << s.error().describe();
  check_image(image, m);
}

TEST_F(ErofsKernelTest, CopiedImageMountsAndMatches) {
  std::string a_path = path("a.img");
  std::string b_path = path("b.img");
  UniqueFd a(::open(a_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  auto wa = new_writer(a.get(), dir_.path());
  ASSERT_TRUE(wa.ok());
  TreeMaker m(**wa);
  testing::build_rich_tree(m, /*huge=*/true);
  ASSERT_TRUE((*wa)->finish(m.tree).ok());

  UniqueFd b(::open(b_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  auto wb = new_writer(b.get(), dir_.path());
  ASSERT_TRUE(wb.ok());
  uint32_t src = (*wb)->sources().add(a.get(), "a.img");
  Result<tree::Tree> ta = read_image(a.get(), src, "a.img");
  ASSERT_TRUE(ta.ok()) << ta.error().describe();
  Status s = (*wb)->finish(*ta);
  ASSERT_TRUE(s.ok()) << s.error().describe();
  check_image(b_path, m);
}

TEST_F(ErofsKernelTest, SmallerBlockSizesMount) {
  for (uint32_t bs : {512u, 1024u, 2048u}) {
    SCOPED_TRACE(bs);
    std::string image = path("bs" + std::to_string(bs) + ".img");
    UniqueFd fd(::open(image.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    auto w = new_writer(fd.get(), dir_.path(), bs);
    ASSERT_TRUE(w.ok());
    TreeMaker m(**w);
    testing::build_rich_tree(m, /*huge=*/false);
    ASSERT_TRUE((*w)->finish(m.tree).ok());
    check_image(image, m, bs);
  }
}

TEST_F(ErofsKernelTest, KernelRejectsABadChecksum) {
  std::string image = path("bad.img");
  UniqueFd fd(::open(image.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  auto w = new_writer(fd.get(), dir_.path());
  ASSERT_TRUE(w.ok());
  TreeMaker m(**w);
  m.file(m.tree.root(), "f", FileSpec::dense(10, 1));
  ASSERT_TRUE((*w)->finish(m.tree).ok());
  {
    LoopMount good(image, image + ".mnt");
    ASSERT_TRUE(good.ok()) << good.error();
  }
  // Flip a byte the checksum covers (the end of the superblock's block).
  char byte = 1;
  ASSERT_EQ(::pwrite(fd.get(), &byte, 1, 4095), 1);
  ::fsync(fd.get());
  auto [rc, out] = run("fsck.erofs '" + image + "'");
  EXPECT_NE(out.find("chksum doesn't match"), std::string::npos) << out;
  LoopMount bad(image, image + ".mnt");
  EXPECT_FALSE(bad.ok()) << "the kernel mounted an image with a bad checksum";
}

}  // namespace
}  // namespace vmimage::erofs
