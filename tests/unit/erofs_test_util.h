// Shared helpers for the EROFS tests: scratch directories, deterministic file
// contents (pattern bytes with holes), a tree builder that streams file data
// through ImageWriter::sink(), and tree-vs-tree comparison by path.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fs/erofs/writer.h"
#include "tree/data_sink.h"
#include "tree/tree.h"
#include "util/file.h"

namespace vmimage::erofs::testing {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/vmimage-erofs.XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A file's content: pattern bytes inside the `data` ranges [start, end), zeros
// (holes when streamed) elsewhere.
struct FileSpec {
  uint64_t size = 0;
  uint32_t seed = 0;
  std::vector<std::pair<uint64_t, uint64_t>> data;

  static FileSpec dense(uint64_t size, uint32_t seed) { return {size, seed, {{0, size}}}; }
};

inline std::byte pattern_byte(uint32_t seed, uint64_t off) {
  uint64_t x = off * 0x9E3779B97F4A7C15ull + seed * 0xBF58476D1CE4E5B9ull;
  return static_cast<std::byte>((x >> 29) ^ (x >> 7) ^ off);
}

inline void expected_bytes(const FileSpec& spec, uint64_t off, std::span<std::byte> out) {
  std::fill(out.begin(), out.end(), std::byte{0});
  for (auto [start, end] : spec.data) {
    uint64_t lo = std::max(start, off);
    uint64_t hi = std::min(end, off + out.size());
    for (uint64_t i = lo; i < hi; ++i) out[i - off] = pattern_byte(spec.seed, i);
  }
}

// Builds a tree; regular files are streamed through the writer's sink in 64 KiB
// chunks (holes skipped), the way the tar reader does it.
class TreeMaker {
 public:
  explicit TreeMaker(ImageWriter& writer) : writer_(writer) {
    tree.inode(tree.root()).mtime_sec = kTime;
  }
  static constexpr int64_t kTime = 1700000000;

  tree::InodeId dir(tree::InodeId parent, const std::string& name, uint32_t mode = 0755) {
    tree::Inode n;
    n.type = tree::FileType::kDirectory;
    n.mode = mode;
    return add(parent, name, std::move(n));
  }

  tree::InodeId file(tree::InodeId parent, const std::string& name, const FileSpec& spec,
                     uint32_t mode = 0644) {
    tree::Inode n;
    n.mode = mode;
    n.data = stream(spec);
    tree::InodeId id = add(parent, name, std::move(n));
    specs[id] = spec;
    return id;
  }

  tree::FileData stream(const FileSpec& spec) {
    tree::FileDataSink& sink = writer_.sink();
    EXPECT_TRUE(sink.begin(spec.size).ok());
    std::vector<std::byte> buf(65536);
    for (auto [start, end] : spec.data) {
      for (uint64_t off = start; off < end; off += buf.size()) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - off));
        for (size_t i = 0; i < n; ++i) buf[i] = pattern_byte(spec.seed, off + i);
        Status s = sink.write(off, std::span(buf).first(n));
        EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().describe());
      }
    }
    Result<tree::FileData> d = sink.finish();
    EXPECT_TRUE(d.ok());
    return d.ok() ? *d : tree::FileData{};
  }

  tree::InodeId symlink(tree::InodeId parent, const std::string& name, const std::string& target) {
    tree::Inode n;
    n.type = tree::FileType::kSymlink;
    n.mode = 0777;
    n.symlink_target = target;
    return add(parent, name, std::move(n));
  }

  tree::InodeId special(tree::InodeId parent, const std::string& name, tree::FileType type,
                        uint32_t major = 0, uint32_t minor = 0) {
    tree::Inode n;
    n.type = type;
    n.rdev_major = major;
    n.rdev_minor = minor;
    return add(parent, name, std::move(n));
  }

  void link(tree::InodeId parent, const std::string& name, tree::InodeId target) {
    tree.inode(parent).children[name] = target;
  }

  tree::Inode& at(tree::InodeId id) { return tree.inode(id); }

  std::string path_of(tree::InodeId id) const { return paths_.at(id); }

  tree::Tree tree;
  std::map<tree::InodeId, FileSpec> specs;  // for content checks

 private:
  tree::InodeId add(tree::InodeId parent, const std::string& name, tree::Inode n) {
    n.mtime_sec = kTime;
    tree::InodeId id = tree.add(std::move(n));
    tree.inode(parent).children[name] = id;
    paths_[id] = (parent == tree.root() ? "" : paths_.at(parent)) + "/" + name;
    return id;
  }

  ImageWriter& writer_;
  std::map<tree::InodeId, std::string> paths_{{0, ""}};
};

// Reads bytes of a FileData from the sources its extents name.
inline Status read_file_data(const tree::DataSources& sources, const tree::FileData& d,
                             uint64_t off, std::span<std::byte> out) {
  for (const tree::Extent* e : {&d.body, &d.tail}) {
    if (out.empty()) break;
    if (off >= e->length) {
      off -= e->length;
      continue;
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(out.size(), e->length - off));
    VMI_CHECK(pread_exact(sources.fd(e->source), out.first(n), e->offset + off, "source"));
    out = out.subspan(n);
    off = 0;
  }
  return {};
}

// Compares `actual` (e.g. read back from an image) with `expected`, walking both by
// name. File contents are checked against the specs (of expected's inodes) through
// `sources`. Hardlinks must map one-to-one.
inline void expect_same_tree(const tree::Tree& expected,
                             const std::map<tree::InodeId, FileSpec>& specs,
                             const tree::Tree& actual, const tree::DataSources& sources) {
  std::map<tree::InodeId, tree::InodeId> seen;
  std::map<tree::InodeId, tree::InodeId> seen_back;
  std::function<void(tree::InodeId, tree::InodeId, const std::string&)> walk =
      [&](tree::InodeId e, tree::InodeId a, const std::string& path) {
        SCOPED_TRACE(path.empty() ? "/" : path);
        auto [it, fresh] = seen.emplace(e, a);
        EXPECT_EQ(it->second, a) << "hardlink mapping differs";
        auto [it2, fresh2] = seen_back.emplace(a, e);
        EXPECT_EQ(it2->second, e) << "two inodes merged";
        if (!fresh) return;
        const tree::Inode& x = expected.inode(e);
        const tree::Inode& y = actual.inode(a);
        EXPECT_EQ(x.type, y.type);
        EXPECT_EQ(x.mode, y.mode);
        EXPECT_EQ(x.uid, y.uid);
        EXPECT_EQ(x.gid, y.gid);
        EXPECT_EQ(x.mtime_sec, y.mtime_sec);
        EXPECT_EQ(x.mtime_nsec, y.mtime_nsec);
        EXPECT_EQ(x.xattrs, y.xattrs);
        EXPECT_EQ(x.symlink_target, y.symlink_target);
        if (x.type == tree::FileType::kCharDevice || x.type == tree::FileType::kBlockDevice) {
          EXPECT_EQ(x.rdev_major, y.rdev_major);
          EXPECT_EQ(x.rdev_minor, y.rdev_minor);
        }
        if (x.type == tree::FileType::kRegular) {
          EXPECT_EQ(x.data.size, y.data.size);
          auto spec = specs.find(e);
          if (spec != specs.end() && x.data.size == y.data.size) {
            std::vector<std::byte> want(1 << 20), got(1 << 20);
            for (auto [start, end] : spec->second.data) {
              // Data ranges plus a window after each: enough to see holes and offsets.
              uint64_t stop = std::min(spec->second.size, end + (1 << 20));
              for (uint64_t off = start; off < stop; off += want.size()) {
                size_t n = static_cast<size_t>(std::min<uint64_t>(want.size(), stop - off));
                expected_bytes(spec->second, off, std::span(want).first(n));
                Status s = read_file_data(sources, y.data, off, std::span(got).first(n));
                ASSERT_TRUE(s.ok()) << s.error().describe();
                ASSERT_TRUE(std::equal(want.begin(), want.begin() + n, got.begin()))
                    << "content differs in [" << off << ", " << off + n << ")";
              }
            }
          }
        }
        std::vector<std::string> xn, yn;
        for (const auto& [name, id] : x.children) xn.push_back(name);
        for (const auto& [name, id] : y.children) yn.push_back(name);
        EXPECT_EQ(xn, yn);
        for (const auto& [name, id] : x.children) {
          auto c = y.children.find(name);
          if (c != y.children.end()) walk(id, c->second, path + "/" + name);
        }
      };
  walk(expected.root(), actual.root(), "");
}

}  // namespace vmimage::erofs::testing

namespace vmimage::erofs::testing {

constexpr uint64_t kFourGiB = 1ull << 32;

inline std::string long_name(char c, size_t len) {
  return std::string(len, c);
}

// A tree with every file type and the awkward cases the kernel must accept: sizes
// around block boundaries, big multi-block directories, 255-byte names, deep paths,
// many and large xattrs, hardlinks across directories, special mode bits, 32-bit
// ids, nanosecond mtimes, device numbers at their limits, long symlinks, and (when
// `huge`) a sparse file over 4 GiB.
inline void build_rich_tree(TreeMaker& m, bool huge) {
  using tree::FileType;
  tree::InodeId root = m.tree.root();
  m.at(root).set_xattr("user.root", "top");
  tree::InodeId etc = m.dir(root, "etc");
  uint32_t seed = 1;
  for (uint64_t size : {0ull, 1ull, 100ull, 2047ull, 2048ull, 2049ull, 4095ull, 4096ull, 4097ull,
                        8191ull, 8192ull, 12289ull, 3ull * 1024 * 1024 + 123}) {
    m.file(etc, "size-" + std::to_string(size), FileSpec::dense(size, seed++));
  }
  tree::InodeId hosts = m.file(etc, "hosts", FileSpec::dense(300, seed++));
  m.file(etc, "sparse",
         FileSpec{5 * 1024 * 1024 + 17,
                  seed++,
                  {{0, 5000}, {1 << 20, (1 << 20) + 70000}, {5 << 20, (5 << 20) + 17}}});
  tree::InodeId tailhole = m.file(etc, "tail-hole", FileSpec{10000, seed++, {{0, 4096}}});
  (void)tailhole;

  tree::InodeId var = m.dir(root, "var");
  m.link(var, "hosts-link", hosts);  // hardlink across directories
  tree::InodeId empty = m.file(var, "empty", FileSpec::dense(0, seed++));
  m.link(etc, "empty-link", empty);
  tree::InodeId tmp = m.dir(root, "tmp", 01777);
  m.at(tmp).set_xattr("trusted.overlay.opaque", "y");
  tree::InodeId sgid = m.dir(root, "sgid-dir", 02775);
  m.at(sgid).gid = 50;

  tree::InodeId bin = m.dir(root, "bin");
  tree::InodeId ping = m.file(bin, "ping", FileSpec::dense(20000, seed++), 04755);
  // struct vfs_cap_data, revision 2, effective, CAP_NET_RAW (13) permitted.
  std::string cap(
      "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20);
  m.at(ping).set_xattr("security.capability", cap);
  tree::InodeId su = m.file(bin, "su", FileSpec::dense(5000, seed++), 06755);
  (void)su;

  tree::InodeId owners = m.dir(root, "owners");
  tree::InodeId big_ids = m.file(owners, "big-ids", FileSpec::dense(10, seed++));
  m.at(big_ids).uid = 100000;
  m.at(big_ids).gid = 4000000000u;
  tree::InodeId small_ids = m.file(owners, "small-ids", FileSpec::dense(10, seed++));
  m.at(small_ids).uid = 65535;
  m.at(small_ids).gid = 1000;
  tree::InodeId nsec = m.file(owners, "nsec", FileSpec::dense(10, seed++));
  m.at(nsec).mtime_nsec = 123456789;
  tree::InodeId old = m.file(owners, "old", FileSpec::dense(10, seed++));
  m.at(old).mtime_sec = 86400;
  tree::InodeId future = m.file(owners, "future", FileSpec::dense(10, seed++));
  m.at(future).mtime_sec = 4102444800;  // 2100-01-01, past 2038

  tree::InodeId xa = m.dir(root, "xattrs");
  tree::InodeId many = m.file(xa, "many", FileSpec::dense(3000, seed++));
  for (int i = 0; i < 60; ++i) {
    m.at(many).set_xattr("user.attr" + std::to_string(i), std::string(i * 3, 'a' + i % 26));
  }
  m.at(many).set_xattr("trusted.overlay.origin", std::string("\x00\xfb\x21", 3));
  m.at(many).set_xattr("user." + long_name('n', 250), "longest name");
  tree::InodeId bigx = m.file(xa, "big-value", FileSpec::dense(1000, seed++));
  m.at(bigx).set_xattr("user.big", std::string(9000, 'v'));  // record larger than a block
  tree::InodeId maxx = m.file(xa, "max-value", FileSpec::dense(70, seed++));
  m.at(maxx).set_xattr("user.max", std::string(65535, 'm'));
  tree::InodeId bigxdir = m.dir(xa, "dir-with-big-xattr");
  m.at(bigxdir).set_xattr("user.big", std::string(5000, 'd'));
  m.file(bigxdir, "f", FileSpec::dense(1, seed++));
  // A streamed file whose spooled tail no longer fits beside its xattrs: relocated.
  tree::InodeId reloc = m.file(xa, "relocated", FileSpec::dense(3 * 4096 + 1500, seed++));
  m.at(reloc).set_xattr("user.pad", std::string(3000, 'p'));
  tree::InodeId acl = m.file(xa, "acl", FileSpec::dense(5, seed++));
  // posix_acl_xattr v2: USER_OBJ rw-, GROUP_OBJ r--, OTHER r--
  std::string acl_value(
      "\x02\x00\x00\x00"
      "\x01\x00\x06\x00\xff\xff\xff\xff"
      "\x04\x00\x04\x00\xff\xff\xff\xff"
      "\x20\x00\x04\x00\xff\xff\xff\xff",
      28);
  m.at(acl).set_xattr("system.posix_acl_access", acl_value);
  tree::InodeId sym_x = m.symlink(xa, "symlink-with-xattr", "many");
  m.at(sym_x).set_xattr("user.on-symlink", "yes");
  m.at(sym_x).set_xattr("trusted.overlay.redirect", "/elsewhere");

  tree::InodeId dev = m.dir(root, "dev");
  m.special(dev, "null", FileType::kCharDevice, 1, 3);
  m.special(dev, "sda1", FileType::kBlockDevice, 8, 1);
  m.special(dev, "max", FileType::kCharDevice, 4095, 0xFFFFF);
  tree::InodeId whiteout = m.special(dev, "whiteout", FileType::kCharDevice, 0, 0);
  m.at(whiteout).set_xattr("trusted.overlay.whiteout", "");
  m.special(dev, "fifo", FileType::kFifo);
  m.special(dev, "socket", FileType::kSocket);
  tree::InodeId hard_dev = m.special(dev, "tty", FileType::kCharDevice, 5, 0);
  m.link(var, "tty-link", hard_dev);

  tree::InodeId links = m.dir(root, "links");
  m.symlink(links, "hosts", "../etc/hosts");
  m.symlink(links, "dangling", "/nonexistent/target");
  std::string long_target;
  while (long_target.size() < 4000) long_target += "component/";
  long_target.resize(4000);
  m.symlink(links, "long", long_target);
  tree::InodeId sl = m.symlink(links, "linked", "hosts");
  m.link(var, "symlink-hardlink", sl);

  tree::InodeId names = m.dir(root, "names");
  for (const char* n : {"-dash", "+plus", ".hidden", ".-dotdash", "..double", "UPPER", "a b",
                        "\xc3\xbcnic\xc3\xb6"
                        "de",
                        "\x7f"
                        "del",
                        "\xff"
                        "high"}) {
    m.file(names, n, FileSpec::dense(3, seed++));
  }
  m.file(names, long_name('x', 255), FileSpec::dense(7, seed++));

  tree::InodeId bigdir = m.dir(root, "bigdir");
  for (int i = 0; i < 400; ++i) {
    char prefix[8];
    snprintf(prefix, sizeof prefix, "%04d", (i * 7919) % 400);
    std::string name = std::string(prefix) + long_name('a' + i % 26, 20 + (i * 37) % 230);
    if (i % 3 == 0) {
      m.dir(bigdir, name);
    } else {
      m.file(bigdir, name, FileSpec::dense(i % 50, seed++));
    }
  }

  tree::InodeId d = m.dir(root, "deep");
  for (int i = 0; i < 40; ++i) d = m.dir(d, "level" + std::to_string(i));
  m.file(d, "bottom", FileSpec::dense(123, seed++));

  if (huge) {
    uint64_t size = kFourGiB + 5000;
    m.file(
        root, "huge",
        FileSpec{size, seed++, {{0, 100}, {kFourGiB - 3000, kFourGiB + 3000}, {size - 100, size}}});
  }
}

}  // namespace vmimage::erofs::testing
