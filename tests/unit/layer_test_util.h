// Test helpers for layer trees: entries made in code, a sink that keeps file
// bytes in memory, and a canonical text listing of a tree to compare against.
#pragma once

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tar/entry.h"
#include "tree/data_sink.h"
#include "tree/layer_builder.h"
#include "tree/tree.h"

namespace vmimage::testing {

// Keeps each file's bytes (holes as zeros); FileData.body.offset is the file's index.
class MemorySink : public tree::FileDataSink {
 public:
  Status begin(uint64_t size) override {
    files_.emplace_back(size, '\0');
    return {};
  }
  Status write(uint64_t offset, std::span<const std::byte> data) override {
    std::string& f = files_.back();
    if (offset + data.size() > f.size()) return Error(ErrorKind::kExtract, "past the end");
    std::memcpy(f.data() + offset, data.data(), data.size());
    return {};
  }
  Result<tree::FileData> finish() override {
    tree::FileData d;
    d.size = files_.back().size();
    d.body = tree::Extent{0, files_.size() - 1, d.size};
    return d;
  }
  const std::string& content(const tree::FileData& d) const { return files_.at(d.body.offset); }

 private:
  std::vector<std::string> files_;
};

// Serves an entry's data as blocks at offsets (gaps are holes).
class BlockData : public tar::DataReader {
 public:
  explicit BlockData(std::string data = "") {
    if (!data.empty()) blocks_.emplace_back(0, std::move(data));
  }
  explicit BlockData(std::vector<std::pair<uint64_t, std::string>> blocks)
      : blocks_(std::move(blocks)) {}
  Result<std::optional<tar::DataBlock>> read_block() override {
    if (next_ == blocks_.size()) return std::optional<tar::DataBlock>();
    const auto& [offset, bytes] = blocks_[next_++];
    tar::DataBlock b;
    b.offset = offset;
    b.bytes = std::span(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size());
    return std::optional<tar::DataBlock>(b);
  }

 private:
  std::vector<std::pair<uint64_t, std::string>> blocks_;
  size_t next_ = 0;
};

inline tar::Entry entry(std::string path, tar::EntryType type, uint32_t mode = 0644) {
  tar::Entry e;
  e.path = std::move(path);
  e.type = type;
  e.mode = mode;
  return e;
}
inline tar::Entry dir_entry(std::string path, uint32_t mode = 0755) {
  return entry(std::move(path), tar::EntryType::kDirectory, mode);
}
inline tar::Entry hardlink_entry(std::string path, std::string target) {
  tar::Entry e = entry(std::move(path), tar::EntryType::kHardlink);
  e.hardlink_target = std::move(target);
  return e;
}
inline tar::Entry symlink_entry(std::string path, std::string target) {
  tar::Entry e = entry(std::move(path), tar::EntryType::kSymlink, 0777);
  e.symlink_target = std::move(target);
  return e;
}

// Feeds entries to a LayerBuilder; file entries carry their content.
struct LayerInput {
  std::vector<std::pair<tar::Entry, std::string>> items;
  LayerInput& file(std::string path, std::string data, uint32_t mode = 0644) {
    tar::Entry e = entry(std::move(path), tar::EntryType::kRegular, mode);
    e.size = data.size();
    items.emplace_back(std::move(e), std::move(data));
    return *this;
  }
  LayerInput& dir(std::string path, uint32_t mode = 0755) {
    items.emplace_back(dir_entry(std::move(path), mode), "");
    return *this;
  }
  LayerInput& add(tar::Entry e) {
    items.emplace_back(std::move(e), "");
    return *this;
  }
  LayerInput& whiteout(const std::string& path) {
    return add(entry(path, tar::EntryType::kRegular));
  }
};

inline Result<tree::Tree> build_layer(const LayerInput& in, tree::FileDataSink& sink,
                                      const tree::Tree* lower = nullptr,
                                      tree::LayerOptions options = {}, bool* context_used = nullptr,
                                      tree::LayerStats* stats = nullptr) {
  tree::LayerBuilder b(sink, options);
  for (const auto& [e, data] : in.items) {
    BlockData d(data);
    VMI_CHECK(b.add(e, d));
  }
  VMI_TRY(tree::Tree t, b.finish(lower));
  if (context_used != nullptr) *context_used = b.context_used();
  if (stats != nullptr) *stats = b.stats();
  return t;
}

inline const char* type_code(tree::FileType t) {
  switch (t) {
    case tree::FileType::kRegular:
      return "f";
    case tree::FileType::kDirectory:
      return "d";
    case tree::FileType::kSymlink:
      return "l";
    case tree::FileType::kCharDevice:
      return "c";
    case tree::FileType::kBlockDevice:
      return "b";
    case tree::FileType::kFifo:
      return "p";
    case tree::FileType::kSocket:
      return "s";
  }
  return "?";
}

// One line per reachable path: "path type mode uid:gid mtime [extra] {xattrs} [=group]".
// Files show their content (from `sink` if given), devices rdev, symlinks target;
// names sharing an inode get "=N" with N the group's first path index.
inline std::vector<std::string> listing(const tree::Tree& t, const MemorySink* sink = nullptr) {
  std::vector<std::pair<std::string, tree::InodeId>> paths;
  std::vector<std::pair<std::string, tree::InodeId>> stack{{"", t.root()}};
  while (!stack.empty()) {
    auto [path, id] = stack.back();
    stack.pop_back();
    paths.emplace_back(path.empty() ? "/" : path, id);
    for (const auto& [name, child] : t.inode(id).children) {
      stack.emplace_back(path.empty() ? name : path + "/" + name, child);
    }
  }
  std::sort(paths.begin(), paths.end());
  std::map<tree::InodeId, std::string> first_name;
  std::map<tree::InodeId, int> names;
  for (const auto& [p, id] : paths) {
    if (!t.inode(id).is_dir()) {
      names[id]++;
      first_name.emplace(id, p);
    }
  }
  std::vector<std::string> out;
  for (const auto& [p, id] : paths) {
    const tree::Inode& n = t.inode(id);
    char buf[96];
    std::snprintf(buf, sizeof buf, " %s %04o %u:%u %lld", type_code(n.type), n.mode, n.uid, n.gid,
                  static_cast<long long>(n.mtime_sec));
    std::string line = p + buf;
    if (n.type == tree::FileType::kRegular) {
      line += sink != nullptr ? " '" + sink->content(n.data) + "'"
                              : " size=" + std::to_string(n.data.size);
    }
    if (n.type == tree::FileType::kSymlink) line += " ->" + n.symlink_target;
    if (n.type == tree::FileType::kCharDevice || n.type == tree::FileType::kBlockDevice) {
      line += " " + std::to_string(n.rdev_major) + ":" + std::to_string(n.rdev_minor);
    }
    for (const tree::Xattr& x : n.xattrs) line += " {" + x.name + "=" + x.value + "}";
    if (!n.is_dir() && names[id] > 1) line += " =" + first_name[id];
    out.push_back(line);
  }
  return out;
}

}  // namespace vmimage::testing
