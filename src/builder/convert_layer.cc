// convert_layer: the passes, in order: open the output and the writer, stream the
// tar through the layer builder into the writer's sink, resolve the layer tree,
// derive the UUID, write the metadata, commit.
#include "builder/convert_layer.h"

#include <cstdio>

#include "fs/erofs/reader.h"
#include "io/sha256.h"
#include "tar/tar_reader.h"
#include "tree/merge.h"
#include "util/file.h"

namespace vmimage::builder {

namespace {

void hash_string(io::Sha256& h, std::string_view s) {
  std::string len = std::to_string(s.size()) + ":";
  h.update(len);
  h.update(s);
}

void hash_number(io::Sha256& h, int64_t n) {
  hash_string(h, std::to_string(n));
}

// A canonical digest of the tree's metadata and shape (not file contents).
std::string tree_metadata_digest(const tree::Tree& t) {
  std::vector<tree::InodeId> order = tree::reachable_inodes(t);
  std::vector<uint32_t> index(t.size(), 0);
  for (size_t i = 0; i < order.size(); ++i) index[order[i]] = static_cast<uint32_t>(i);
  io::Sha256 h;
  for (tree::InodeId id : order) {
    const tree::Inode& n = t.inode(id);
    for (int64_t v : {int64_t(n.type), int64_t(n.mode), int64_t(n.uid), int64_t(n.gid), n.mtime_sec,
                      int64_t(n.mtime_nsec), int64_t(n.rdev_major), int64_t(n.rdev_minor),
                      int64_t(n.data.size)}) {
      hash_number(h, v);
    }
    hash_string(h, n.symlink_target);
    hash_number(h, static_cast<int64_t>(n.xattrs.size()));
    for (const tree::Xattr& x : n.xattrs) {
      hash_string(h, x.name);
      hash_string(h, x.value);
    }
    hash_number(h, static_cast<int64_t>(n.children.size()));
    for (const auto& [name, child] : n.children) {
      hash_string(h, name);
      hash_number(h, index[child]);
    }
  }
  return h.finish_digest();
}

// An RFC 9562 version 8 UUID from the layer's content, the options and the tree.
std::array<uint8_t, 16> derive_uuid(const std::string& diff_id, const ConvertOptions& options,
                                    const tree::Tree& layer) {
  io::Sha256 h;
  hash_string(h, "vmimage mkfs erofs uuid v1");
  hash_string(h, diff_id);
  hash_number(h, options.block_size);
  hash_string(h, options.mtime ? std::to_string(*options.mtime) : "keep");
  hash_string(h, options.label);
  hash_string(h, tree_metadata_digest(layer));
  std::string digest = h.finish_digest();
  std::array<uint8_t, 16> uuid{};
  for (size_t i = 0; i < uuid.size(); ++i) {
    uuid[i] = static_cast<uint8_t>(std::stoi(digest.substr(7 + 2 * i, 2), nullptr, 16));
  }
  uuid[6] = static_cast<uint8_t>((uuid[6] & 0x0F) | 0x80);
  uuid[8] = static_cast<uint8_t>((uuid[8] & 0x3F) | 0x80);
  return uuid;
}

}  // namespace

Result<StreamedLayer> stream_layer(io::Reader& tar, const std::string& input_name,
                                   tree::FileDataSink& sink, std::optional<int64_t> mtime,
                                   const tree::Tree* lower, ImageBudget& budget) {
  VMI_TRY(auto reader, tar::TarReader::open(tar, input_name, budget.tar_options()));
  tree::LayerOptions layer_options = budget.layer_options(input_name);
  layer_options.mtime = mtime;
  tree::LayerBuilder builder(sink, layer_options);
  while (true) {
    VMI_TRY(const tar::Entry* entry, reader->next());
    if (entry == nullptr) break;
    VMI_CHECK(builder.add(*entry, *reader));
  }
  StreamedLayer out;
  VMI_TRY(out.tree, builder.finish(lower));
  out.context_used = builder.context_used();
  out.stats = builder.stats();
  out.warnings = reader->warnings();
  return out;
}

Result<ConvertResult> convert_layer(io::Reader& tar_stream, const std::string& input_name,
                                    const std::string& out_path, const ConvertOptions& options,
                                    const tree::Tree* lower_context) {
  erofs::Options image_options;
  image_options.block_size = options.block_size;
  image_options.volume_label = options.label;
  image_options.page_cache = PageCache::kDropBehind;  // a file for the user, not read back here
  std::string scratch = options.scratch_dir.empty() ? dirname_of(out_path) : options.scratch_dir;

  VMI_TRY(AtomicFile out, AtomicFile::create(out_path));
  VMI_TRY(auto writer, erofs::ImageWriter::create(out.fd(), out_path, scratch, image_options));
  io::HashingReader hashing(std::make_unique<io::BorrowedReader>(tar_stream), input_name,
                            std::nullopt, std::nullopt, io::HashOn::kReadAhead);
  ImageBudget budget(options.limits);
  VMI_TRY(StreamedLayer layer, stream_layer(hashing, input_name, writer->sink(), options.mtime,
                                            lower_context, budget));

  ConvertResult result;
  result.diff_id = hashing.digest();
  result.uuid = options.uuid ? *options.uuid : derive_uuid(result.diff_id, options, layer.tree);
  writer->set_uuid(result.uuid);
  if (Status s = writer->finish(layer.tree); !s) return std::move(s).error();
  VMI_CHECK(out.commit());

  result.tree = std::move(layer.tree);
  result.context_used = layer.context_used;
  result.stats.layer = layer.stats;
  result.stats.image = writer->stats();
  result.stats.tar_bytes = hashing.bytes();
  result.warnings = std::move(layer.warnings);
  return result;
}

Result<tree::Tree> lower_context_from_images(const std::vector<std::string>& image_paths) {
  tree::Tree merged;
  for (const std::string& path : image_paths) {
    VMI_TRY(UniqueFd fd, open_read(path));
    Result<tree::Tree> layer = erofs::read_image(fd.get(), 0, path);
    if (!layer) return std::move(layer).error().context("reading lower layer " + path);
    VMI_CHECK(tree::apply_layer(merged, *layer));
  }
  return merged;
}

Result<std::array<uint8_t, 16>> parse_uuid(std::string_view text) {
  auto bad = [&] {
    return Error(ErrorKind::kUsage, "invalid UUID \"" + std::string(text) +
                                        "\" (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
  };
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (text.size() != 36) return bad();
  std::array<uint8_t, 16> out{};
  size_t byte = 0;
  for (size_t i = 0; i < text.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return bad();
      ++i;
      continue;
    }
    int hi = hex(text[i]), lo = hex(text[i + 1]);  // groups have even lengths
    if (hi < 0 || lo < 0) return bad();
    out[byte++] = static_cast<uint8_t>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string format_uuid(const std::array<uint8_t, 16>& uuid) {
  std::string out;
  char buf[4];
  for (size_t i = 0; i < uuid.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    std::snprintf(buf, sizeof buf, "%02x", uuid[i]);
    out += buf;
  }
  return out;
}

}  // namespace vmimage::builder
