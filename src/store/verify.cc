// verify (re-checksum blob files against their recorded checksum) and disk usage
// (bytes per blob, shared between images or unique to one).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <set>

#include "io/checksum.h"
#include "store/core.h"
#include "verity/tree.h"

namespace vmimage::store_detail {
namespace {

using BlobKey = std::pair<std::string, FsType>;

std::optional<BlobProblem> check_blob(const BlobRecord& record, const std::string& scratch_dir,
                                      uint64_t& bytes) {
  auto problem = [&](BlobProblem::Kind kind, std::string detail) {
    return std::optional<BlobProblem>(BlobProblem{kind, record, std::move(detail)});
  };
  UniqueFd fd(::open(record.blob.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    std::string why = std::strerror(errno);
    return problem(errno == ENOENT ? BlobProblem::Kind::kMissing : BlobProblem::Kind::kCorrupt,
                   record.blob.path + ": " + why);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return problem(BlobProblem::Kind::kCorrupt, "stat failed");
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size != record.blob.size) {
    return problem(
        BlobProblem::Kind::kCorrupt,
        "size " + std::to_string(size) + " bytes, recorded " + std::to_string(record.blob.size));
  }
  std::string_view algorithm = io::checksum_algorithm(record.file_checksum);
  if (algorithm.empty()) {
    return problem(BlobProblem::Kind::kCorrupt,
                   "recorded checksum \"" + record.file_checksum + "\" names no known algorithm");
  }
  auto checksum = io::file_checksum(fd.get(), record.blob.path, ErrorKind::kStoreRead, algorithm);
  if (!checksum.ok()) return problem(BlobProblem::Kind::kCorrupt, checksum.error().describe());
  bytes += size;
  // A blob with a dm-verity tree: its data must hash to the recorded root
  // through the tree it holds (what a kernel opening it checks).
  std::string tree_problem;
  if (record.blob.verity) {
    Status tree = verity::check_tree(fd.get(), record.blob.path, *record.blob.verity, scratch_dir);
    if (!tree.ok()) tree_problem = tree.error().message();
  }
  if (*checksum != record.file_checksum) {
    return problem(BlobProblem::Kind::kCorrupt,
                   "content " + *checksum + ", recorded " + record.file_checksum +
                       (tree_problem.empty() ? "" : "; " + tree_problem));
  }
  if (!tree_problem.empty()) return problem(BlobProblem::Kind::kCorrupt, tree_problem);
  return std::nullopt;
}

Result<std::optional<BlobRecord>> current_record(Core& core, const BlobRecord& old) {
  VMI_TRY(auto all, list_blobs(core));
  for (BlobRecord& r : all) {
    if (r.blob.digest == old.blob.digest && r.blob.fs_type == old.blob.fs_type) {
      return std::optional<BlobRecord>(std::move(r));
    }
  }
  return std::optional<BlobRecord>();
}

// The blobs of the images `tags` name (local scope first, then the registry cache).
Result<std::set<BlobKey>> blobs_of(Core& core, std::span<const std::string> tags) {
  std::set<BlobKey> keys;
  for (const std::string& tag : tags) {
    auto image = find_image(core, Scope::kLocal, tag);
    if (!image.ok() && image.error().kind() == ErrorKind::kImageNotFound) {
      image = find_image(core, Scope::kRegistry, tag);
    }
    if (!image.ok()) return std::move(image).error();
    for (const auto* layers : {&image->result.layers, &image->result.canonical_layers}) {
      for (const LayerRef& l : *layers) keys.insert({l.digest, l.fs_type});
    }
  }
  return keys;
}

}  // namespace

Result<VerifyReport> verify_blobs(Core& core, std::span<const std::string> tags) {
  VMI_TRY(auto records, list_blobs(core));
  std::optional<std::set<BlobKey>> wanted;
  if (!tags.empty()) {
    VMI_TRY(wanted, blobs_of(core, tags));
  }
  VerifyReport report;
  for (const BlobRecord& record : records) {
    if (wanted && !wanted->count({record.blob.digest, record.blob.fs_type})) continue;
    report.blobs_checked++;
    auto problem = check_blob(record, core.layout().tmp, report.bytes_checked);
    if (!problem) continue;
    // gc may have removed the blob, or a process re-produced a damaged one,
    // since the rows were read: judge against the metadata as it is now.
    VMI_TRY(auto now, current_record(core, record));
    if (!now) continue;
    if (now->file_checksum != record.file_checksum || now->blob.size != record.blob.size) {
      problem = check_blob(*now, core.layout().tmp, report.bytes_checked);
    }
    if (problem) report.problems.push_back(std::move(*problem));
  }
  return report;
}

Result<DiskUsage> disk_usage(Core& core) {
  VMI_TRY(auto records, list_blobs(core));
  DiskUsage usage;
  std::map<BlobKey, const BlobRecord*> by_key;
  for (const BlobRecord& r : records) {
    by_key[{r.blob.digest, r.blob.fs_type}] = &r;
    usage.blobs++;
    usage.bytes += r.blob.size;
    if (r.refcount >= 2) usage.shared_bytes += r.blob.size;
    if (r.refcount == 0) usage.unreferenced_bytes += r.blob.size;
  }
  auto guard = core.lock_db();
  VMI_TRY(auto stmt,
          Statement::prepare(core.db(),
                             "SELECT i.scope, i.tag, l.digest, l.fs_type FROM images i "
                             "JOIN (SELECT DISTINCT image_id, digest, fs_type FROM "
                             "image_layers) l ON l.image_id = i.id ORDER BY i.scope, i.tag",
                             ErrorKind::kStoreRead));
  for (;;) {
    VMI_TRY(bool row, stmt.step());
    if (!row) break;
    Scope scope = parse_scope(stmt.text(0)).value_or(Scope::kLocal);
    std::string tag = stmt.text(1);
    if (usage.images.empty() || usage.images.back().tag != tag ||
        usage.images.back().scope != scope) {
      usage.images.push_back(ImageUsage{scope, tag, 0, 0});
    }
    auto it = by_key.find({stmt.text(2), parse_fs_type(stmt.text(3)).value_or(FsType::kErofs)});
    if (it == by_key.end()) continue;  // written since the blob list was read
    (it->second->refcount >= 2 ? usage.images.back().shared_bytes
                               : usage.images.back().unique_bytes) += it->second->blob.size;
  }
  return usage;
}

}  // namespace vmimage::store_detail
