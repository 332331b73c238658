// Helpers for the ext4 tests (header-only: the unit-test glob takes only
// *_test.cc): trees with real file data in a spool file, mounts undone by
// RAII, and a comparison of a mounted filesystem with a tree.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tree/data_sink.h"
#include "tree/tree.h"
#include "util/fd.h"
#include "util/file.h"

namespace vmimage::ext4::testing {

// A directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/vmimage-ext4-XXXXXX";
    path_ = ::mkdtemp(tmpl.data()) != nullptr ? tmpl : "";
  }
  ~TempDir() {
    std::error_code ec;
    if (std::getenv("VMIMAGE_KEEP_TEST_DIR") != nullptr) {
      std::fprintf(stderr, "kept %s\n", path_.c_str());
    } else if (!path_.empty()) {
      std::filesystem::remove_all(path_, ec);
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Where test spools go: tmpfs when there is one, because freeing thousands of
// scattered blocks on a disk mounted with "discard" takes seconds.
inline std::string spool_dir(const std::string& fallback) {
  return ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : fallback;
}

// Builds a tree whose file data goes through a tree::SpoolSink into one
// scratch file (source 0), as the tar reader does. Parents must exist.
class TreeBuilder {
 public:
  explicit TreeBuilder(const std::string& dir)
      : spool_(open_scratch_file(spool_dir(dir)).value()), sink_(spool_.get(), 0, "spool") {
    sources.add(spool_.get(), "spool");
  }
  tree::Tree tree;
  tree::DataSources sources;

  tree::InodeId dir(const std::string& path, uint32_t mode = 0755) {
    tree::Inode n;
    n.type = tree::FileType::kDirectory;
    n.mode = mode;
    return add(path, std::move(n));
  }
  tree::InodeId file(const std::string& path, const std::string& content, uint32_t mode = 0644) {
    return sparse_file(path, content.size(), {{0, content}}, mode);
  }
  // A file of `size` bytes that is a hole except for `chunks` (offset, bytes).
  tree::InodeId sparse_file(const std::string& path, uint64_t size,
                            const std::vector<std::pair<uint64_t, std::string>>& chunks,
                            uint32_t mode = 0644) {
    tree::Inode n;
    n.mode = mode;
    (void)sink_.begin(size);
    for (const auto& [offset, bytes] : chunks) {
      if (!bytes.empty()) (void)sink_.write(offset, std::as_bytes(std::span(bytes)));
    }
    n.data = sink_.finish().value();
    return add(path, std::move(n));
  }
  tree::InodeId symlink(const std::string& path, const std::string& target) {
    tree::Inode n;
    n.type = tree::FileType::kSymlink;
    n.mode = 0777;
    n.symlink_target = target;
    return add(path, std::move(n));
  }
  tree::InodeId special(const std::string& path, tree::FileType type, uint32_t major = 0,
                        uint32_t minor = 0) {
    tree::Inode n;
    n.type = type;
    n.rdev_major = major;
    n.rdev_minor = minor;
    return add(path, std::move(n));
  }
  // Another name for an existing inode.
  void link(const std::string& path, tree::InodeId id) {
    parent_of(path).children[leaf(path)] = id;
  }
  tree::Inode& at(tree::InodeId id) { return tree.inode(id); }

 private:
  static std::string leaf(const std::string& path) { return path.substr(path.rfind('/') + 1); }
  tree::Inode& parent_of(const std::string& path) {
    size_t slash = path.rfind('/');
    return tree.inode(tree.lookup(slash == std::string::npos ? "" : path.substr(0, slash)));
  }
  tree::InodeId add(const std::string& path, tree::Inode node) {
    tree::InodeId id = tree.add(std::move(node));
    link(path, id);
    return id;
  }
  UniqueFd spool_;
  tree::SpoolSink sink_;
};

// Runs a shell command; returns its exit status (-1 when it did not exit).
inline int run(const std::string& command, std::string* output = nullptr) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buf[4096];
  size_t n;
  std::string out;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  int status = ::pclose(pipe);
  if (output != nullptr) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Mounts `source` at `dir` with mount(8) (a loop device for image files,
// released with the mount); unmounts when destroyed, even after a failure.
class Mount {
 public:
  Mount(const std::string& source, const std::string& dir, const std::string& type,
        const std::string& options)
      : dir_(dir) {
    std::filesystem::create_directories(dir);
    ok_ = run("mount -t " + type + " -o " + options + " '" + source + "' '" + dir + "'", &error_) ==
          0;
  }
  ~Mount() { unmount(); }
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  bool unmount() {
    if (!ok_) return true;
    ok_ = run("umount '" + dir_ + "'") != 0;
    if (ok_) ok_ = run("umount -l '" + dir_ + "'") != 0;
    return !ok_;
  }

 private:
  std::string dir_;
  bool ok_ = false;
  std::string error_;
};

inline bool running_as_root() {
  return ::geteuid() == 0;
}

// 512-byte blocks a file occupies on disk (st_blocks).
inline uint64_t disk_blocks(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return UINT64_MAX;
  return static_cast<uint64_t>(st.st_blocks);
}

// The first offset >= pos that may hold data in fd (SEEK_DATA), or `end`.
inline uint64_t next_data(int fd, uint64_t pos, uint64_t end) {
  off_t r = ::lseek(fd, static_cast<off_t>(pos), SEEK_DATA);
  return r < 0 ? end : std::min<uint64_t>(static_cast<uint64_t>(r), end);
}

// Compares a tree file's bytes with a file on disk in 1 MiB windows, skipping
// windows where both report holes (so multi-GiB sparse files stay quick).
// Returns "" when equal, else where they differ.
inline std::string compare_content(const tree::DataSources& sources, const tree::FileData& data,
                                   const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return "unreadable";
  constexpr uint64_t kWindow = 1 << 20;
  std::vector<std::byte> want(std::min(kWindow, data.size)), got(want.size());
  for (uint64_t w = 0; w < data.size; w += kWindow) {
    uint64_t n = std::min(kWindow, data.size - w);
    bool tree_data = false;
    for (const auto& [e, start] :
         {std::pair{data.body, uint64_t{0}}, std::pair{data.tail, data.body.length}}) {
      uint64_t lo = std::max(w, start), hi = std::min(w + n, start + e.length);
      if (lo < hi) {
        uint64_t src = e.offset + (lo - start);
        tree_data |= next_data(sources.fd(e.source), src, src + (hi - lo)) < src + (hi - lo);
      }
    }
    if (!tree_data && next_data(fd.get(), w, w + n) >= w + n) continue;
    for (const auto& [e, start] :
         {std::pair{data.body, uint64_t{0}}, std::pair{data.tail, data.body.length}}) {
      uint64_t lo = std::max(w, start), hi = std::min(w + n, start + e.length);
      if (lo < hi && !pread_exact(sources.fd(e.source), std::span(want).subspan(lo - w, hi - lo),
                                  e.offset + (lo - start), "tree")) {
        return "tree data unreadable";
      }
    }
    if (::pread(fd.get(), got.data(), n, static_cast<off_t>(w)) != static_cast<ssize_t>(n))
      return "short read";
    if (std::memcmp(want.data(), got.data(), n) != 0)
      return "bytes differ in [" + std::to_string(w) + ", +1MiB)";
  }
  char extra;
  if (::pread(fd.get(), &extra, 1, static_cast<off_t>(data.size)) != 0)
    return "longer than the tree file";
  return "";
}

inline std::map<std::string, std::string> disk_xattrs(const std::string& path) {
  std::map<std::string, std::string> out;
  std::string names(65536, '\0');
  ssize_t len = ::llistxattr(path.c_str(), names.data(), names.size());
  for (ssize_t at = 0; len > 0 && at < len;) {
    std::string name(names.c_str() + at);
    at += static_cast<ssize_t>(name.size()) + 1;
    std::string value(65536, '\0');
    ssize_t vlen = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    out[name] = vlen >= 0 ? value.substr(0, static_cast<size_t>(vlen)) : "<unreadable>";
  }
  return out;
}

inline std::set<std::string> disk_names(const std::string& path) {
  std::set<std::string> names;
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.insert(n);
  }
  ::closedir(d);
  return names;
}


struct Comparison {
  const tree::Tree& tree;
  const tree::DataSources& sources;
  std::vector<uint32_t> links = tree::link_counts(tree);
  std::map<tree::InodeId, ino_t> seen;  // tree inode -> mounted st_ino
  std::map<ino_t, tree::InodeId> owner;
  std::vector<std::string> diffs;

  template <typename A, typename B>
  void expect(const std::string& path, const char* what, const A& want, const B& got) {
    if (!(want == got)) {
      diffs.push_back(path + ": " + what + " want " + std::to_string(want) + " got " +
                      std::to_string(got));
    }
  }
  void expect_str(const std::string& path, const char* what, const std::string& want,
                  const std::string& got) {
    if (want != got)
      diffs.push_back(path + ": " + what + " want \"" + want + "\" got \"" + got + "\"");
  }

  void node(const std::string& path, tree::InodeId id) {
    const tree::Inode& n = tree.inode(id);
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
      diffs.push_back(path + ": missing");
      return;
    }
    if (seen.contains(id)) {
      expect(path, "hardlink st_ino", seen[id], st.st_ino);
      return;
    }
    if (owner.contains(st.st_ino))
      diffs.push_back(path + ": shares an inode with another tree inode");
    seen[id] = st.st_ino;
    owner[st.st_ino] = id;
    expect(path, "type", tree::type_mode_bits(n.type), st.st_mode & S_IFMT);
    expect(path, "mode", n.mode, st.st_mode & 07777);
    expect(path, "uid", n.uid, st.st_uid);
    expect(path, "gid", n.gid, st.st_gid);
    expect(path, "mtime", n.mtime_sec, static_cast<int64_t>(st.st_mtim.tv_sec));
    expect(path, "mtime ns", n.mtime_nsec, static_cast<uint32_t>(st.st_mtim.tv_nsec));
    expect(path, "nlink", links[id], st.st_nlink);
    content(path, n, st);
    std::map<std::string, std::string> want;
    for (const tree::Xattr& x : n.xattrs) want[x.name] = x.value;
    if (want != disk_xattrs(path)) diffs.push_back(path + ": xattrs differ");
  }

  void content(const std::string& path, const tree::Inode& n, const struct stat& st) {
    if (n.type == tree::FileType::kRegular) {
      expect(path, "size", n.data.size, static_cast<uint64_t>(st.st_size));
      expect_str(path, "content", "", compare_content(sources, n.data, path));
    } else if (n.type == tree::FileType::kSymlink) {
      std::string target(8192, '\0');
      ssize_t len = ::readlink(path.c_str(), target.data(), target.size());
      expect_str(path, "target", n.symlink_target,
                 target.substr(0, len < 0 ? 0 : static_cast<size_t>(len)));
    } else if (n.type == tree::FileType::kCharDevice || n.type == tree::FileType::kBlockDevice) {
      expect(path, "major", n.rdev_major, major(st.st_rdev));
      expect(path, "minor", n.rdev_minor, minor(st.st_rdev));
    }
  }

  void walk(const std::string& path, tree::InodeId id, const std::vector<std::string>& extra) {
    node(path, id);
    const tree::Inode& n = tree.inode(id);
    if (!n.is_dir()) return;
    std::set<std::string> want(extra.begin(), extra.end());
    for (const auto& [name, child] : n.children) want.insert(name);
    std::set<std::string> got = disk_names(path);
    if (want != got) {
      diffs.push_back(path + ": entries differ (" + std::to_string(want.size()) + " wanted, " +
                      std::to_string(got.size()) + " found)");
    }
    for (const auto& [name, child] : n.children) walk(path + "/" + name, child, {});
  }
};

// Every difference between the tree and the filesystem mounted at `root`:
// names, types, modes, owners, mtimes (ns), sizes, devices, symlink targets,
// xattrs, file contents, hardlink groups and link counts. `extra_root_names`
// are names allowed in the mounted root only (e.g. lost+found).
inline std::vector<std::string> compare_tree(
    const tree::Tree& tree, const tree::DataSources& sources, const std::string& root,
    const std::vector<std::string>& extra_root_names = {}) {
  Comparison c{tree, sources};
  for (const std::string& name : extra_root_names) {
    struct stat st {};
    if (::lstat((root + "/" + name).c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      c.links[tree.root()] += 1;
  }
  c.walk(root, tree.root(), extra_root_names);
  return c.diffs;
}

}  // namespace vmimage::ext4::testing
