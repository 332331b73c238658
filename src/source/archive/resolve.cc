// Image resolution inside an archive. docker save's manifest.json is what
// `docker load` honours, so it wins when present (Docker 25+ writes it beside an
// OCI layout); index.json alone means an OCI image layout.
#include "source/archive/resolve.h"

#include <set>

#include "oci/json_util.h"
#include "oci/manifest.h"
#include "oci/media_types.h"
#include "source/archive/select.h"

namespace vmimage::archive {
namespace {

using oci::json::Fields;
using oci::json::Json;

constexpr ErrorKind kKind = ErrorKind::kTarball;
constexpr int kMaxIndexDepth = 4;
constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";
constexpr std::string_view kContainerdNameAnnotation = "io.containerd.image.name";

Error rekind(const Error& e, const std::string& where) {
  return Error(kKind, where + ": " + e.message());
}

// A blob document named by a descriptor, checked against its digest and size.
Result<std::string> read_blob_document(Contents& contents, const oci::Descriptor& d,
                                       const std::string& where) {
  std::string path = blob_path(d.digest);
  auto bytes = contents.document(path);
  if (!bytes.ok()) return rekind(bytes.error(), where);
  std::string actual = oci::Digest::of(*bytes).str();
  if (actual != d.digest.str()) {
    return Error(kKind, where + ": " + path + " has digest " + actual + ", not " + d.digest.str());
  }
  if (static_cast<int64_t>(bytes->size()) != d.size) {
    return Error(kKind, where + ": " + path + " is " + std::to_string(bytes->size()) +
                            " bytes, the descriptor says " + std::to_string(d.size));
  }
  return bytes;
}

Error several_images(size_t count, const ImportOptions& options,
                     const std::vector<Candidate>& candidates) {
  std::string n = std::to_string(count);
  if (options.ref) {
    return Error(kKind, "\"" + *options.ref + "\" matches " + n +
                            " images in the archive; "
                            "choose one by digest with --ref: " +
                            describe_candidates(candidates));
  }
  return Error(kKind, "the archive holds " + n +
                          " images; choose one with --ref: " + describe_candidates(candidates));
}

// ---- docker save: manifest.json ----

struct DockerEntry {
  std::string config;
  std::vector<std::string> repo_tags;
  std::vector<std::string> layers;
};

Result<std::string> entry_path(const Fields& f, std::string_view key, const std::string& text) {
  auto path = normalize_member_path(text);
  if (!path || path->empty())
    return f.error(key, "\"" + text + "\" is not a path inside the archive");
  return *path;
}

Result<DockerEntry> parse_docker_entry(const Json& object, const std::string& where) {
  if (!object.is_object()) return Error(kKind, where + ": not an object");
  Fields f(object, where, kKind);
  DockerEntry e;
  VMI_TRY(std::string config, f.string("Config"));
  VMI_TRY(e.config, entry_path(f, "Config", config));
  VMI_TRY(e.repo_tags, f.string_list("RepoTags"));
  VMI_TRY(const Json* layers, f.array("Layers"));
  for (size_t i = 0; i < layers->size(); ++i) {
    std::string key = "Layers[" + std::to_string(i) + "]";
    if (!(*layers)[i].is_string()) return f.error(key, "not a string");
    VMI_TRY(std::string path, entry_path(f, key, (*layers)[i].get<std::string>()));
    e.layers.push_back(std::move(path));
  }
  return e;
}

Result<std::vector<DockerEntry>> parse_docker_manifest(std::string_view raw) {
  VMI_TRY(Json doc, oci::json::parse_document(raw, "manifest.json", kKind));
  if (doc.is_null()) return Error(kKind, "manifest.json is null: the archive lists no image");
  if (!doc.is_array()) return Error(kKind, "manifest.json: not a JSON array of images");
  if (doc.empty())
    return Error(kKind, "manifest.json is an empty list: the archive lists no image");
  std::vector<DockerEntry> entries;
  for (size_t i = 0; i < doc.size(); ++i) {
    VMI_TRY(DockerEntry e, parse_docker_entry(doc[i], "manifest.json[" + std::to_string(i) + "]"));
    entries.push_back(std::move(e));
  }
  return entries;
}

Candidate docker_candidate(const DockerEntry& e) {
  Candidate c;
  c.names = e.repo_tags;
  // Classic writers name the config <image id>.json, the id being its sha256.
  std::string base = e.config.substr(e.config.rfind('/') + 1);
  if (base.ends_with(".json")) base.resize(base.size() - 5);
  if (oci::digest_syntax_problem("sha256:" + base).empty()) c.digests.push_back("sha256:" + base);
  return c;
}

// Docker 25+ also writes the image's OCI manifest: find it through index.json
// (nested indexes included) so the import keeps the real manifest digest. A
// worklist with each document read once: indexes that name each other, or one
// index many times, cost no more than the documents the archive holds.
void find_oci_manifest(Contents& contents, const oci::Index& index, const std::string& config,
                       std::optional<std::pair<oci::Manifest, ManifestDoc>>& found) {
  std::vector<std::pair<oci::Descriptor, int>> todo;  // with its index depth
  for (const oci::Descriptor& d : index.manifests) todo.emplace_back(d, 0);
  std::set<std::string> seen;
  for (size_t next = 0; next < todo.size() && !found; ++next) {
    auto [d, depth] = todo[next];
    if (depth > kMaxIndexDepth || !seen.insert(d.digest.str()).second) continue;
    auto raw = read_blob_document(contents, d, "index.json");
    if (!raw.ok()) continue;
    auto kind = oci::classify_manifest(d.media_type, *raw);
    if (!kind.ok()) continue;
    if (*kind == oci::DocumentKind::kIndex) {
      auto nested = oci::parse_index(*raw, d.media_type);
      if (!nested.ok()) continue;
      for (const oci::Descriptor& n : nested->manifests) todo.emplace_back(n, depth + 1);
      continue;
    }
    auto m = oci::parse_manifest(*raw, d.media_type);
    if (m.ok() && blob_path(m->config.digest) == config) {
      ManifestDoc doc{d.digest.str(), m->media_type, std::move(raw).value()};
      found.emplace(std::move(m).value(), std::move(doc));
    }
  }
}

Status plan_oci_manifest(Contents& contents, const oci::Manifest& m, const std::string& where,
                         Plan& plan);

Status adopt_docker25_manifest(Contents& contents, const DockerEntry& e, Plan& plan) {
  if (!contents.has("index.json")) return {};
  auto raw = contents.document("index.json");
  if (!raw.ok()) return {};
  auto index = oci::parse_index(*raw);
  if (!index.ok()) return {};
  std::optional<std::pair<oci::Manifest, ManifestDoc>> found;
  find_oci_manifest(contents, *index, e.config, found);
  if (!found) return {};
  std::vector<std::string> paths;
  for (const oci::Descriptor& d : found->first.layers) paths.push_back(blob_path(d.digest));
  if (paths != e.layers) return {};  // a different layer list: trust manifest.json alone
  Plan oci_plan = plan;
  VMI_CHECK(
      plan_oci_manifest(contents, found->first, "manifest " + found->second.digest, oci_plan));
  oci_plan.manifest = std::move(found->second);
  plan = std::move(oci_plan);
  return {};
}

Result<Plan> resolve_docker(Contents& contents, const ImportOptions& options) {
  VMI_TRY(std::string raw, contents.document("manifest.json"));
  VMI_TRY(std::vector<DockerEntry> entries, parse_docker_manifest(raw));
  std::vector<Candidate> candidates;
  candidates.reserve(entries.size());
  for (const DockerEntry& e : entries) candidates.push_back(docker_candidate(e));
  std::vector<size_t> matches = match_candidates(candidates, options.ref);
  if (matches.empty()) {
    return Error(kKind, "no image in the archive matches \"" + *options.ref +
                            "\"; it holds: " + describe_candidates(candidates));
  }
  if (matches.size() > 1) return several_images(matches.size(), options, candidates);
  size_t i = matches.front();
  const DockerEntry& e = entries[i];
  Plan plan;
  plan.format = ArchiveFormat::kDockerArchive;
  plan.names = e.repo_tags;
  plan.name = chosen_name(candidates[i], options.ref);
  std::string where = "manifest.json[" + std::to_string(i) + "]";
  plan.config_path = e.config;
  plan.config_where = where + ".Config";
  plan.config_digest = digest_from_blob_path(e.config);
  for (size_t l = 0; l < e.layers.size(); ++l) {
    LayerRef ref{e.layers[l], where + ".Layers[" + std::to_string(l) + "]",
                 digest_from_blob_path(e.layers[l]), std::nullopt, ""};
    plan.layers.push_back(std::move(ref));
  }
  VMI_CHECK(adopt_docker25_manifest(contents, e, plan));
  return plan;
}

// ---- OCI image layout: index.json ----

Status plan_oci_manifest(Contents& contents, const oci::Manifest& m, const std::string& where,
                         Plan& plan) {
  if (!oci::is_config_media_type(m.config.media_type)) {
    return Error(kKind, where + ": not a container image (config media type \"" +
                            m.config.media_type + "\")");
  }
  plan.config_path = blob_path(m.config.digest);
  plan.config_where = where + " config";
  plan.config_digest = m.config.digest;
  plan.config_size = m.config.size;
  plan.layers.clear();
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const oci::Descriptor& d = m.layers[i];
    std::string layer_where = where + " layers[" + std::to_string(i) + "]";
    auto compression = oci::layer_compression(d.media_type);
    if (!compression.ok()) return rekind(compression.error(), layer_where);
    std::string path = blob_path(d.digest);
    if (!d.urls.empty() && !contents.has(path)) {
      return Error(kKind, layer_where + ": foreign layer " + d.digest.str() +
                              " is not in the archive (it lives at " + d.urls.front() + ")");
    }
    plan.layers.push_back(LayerRef{path, layer_where, d.digest, d.size, d.media_type});
  }
  return {};
}

std::vector<std::string> annotation_names(const oci::Descriptor& d) {
  for (std::string_view key : {kContainerdNameAnnotation, kRefNameAnnotation}) {
    auto it = d.annotations.find(std::string(key));
    if (it != d.annotations.end() && !it->second.empty()) return {it->second};
  }
  return {};
}

// Follows an index entry down to one image manifest, choosing by platform in
// nested indexes.
Status follow_descriptor(Contents& contents, const oci::Descriptor& d, const ImportOptions& options,
                         int depth, Plan& plan) {
  std::string where = "manifest " + d.digest.str();
  if (depth > kMaxIndexDepth) return Error(kKind, where + ": indexes nested too deep");
  VMI_TRY(std::string raw, read_blob_document(contents, d, where));
  auto kind = oci::classify_manifest(d.media_type, raw);
  if (!kind.ok()) return rekind(kind.error(), where);
  if (*kind == oci::DocumentKind::kIndex) {
    auto index = oci::parse_index(raw, d.media_type);
    if (!index.ok()) return rekind(index.error(), "index " + d.digest.str());
    auto chosen = oci::select_platform(*index, options.platform);
    if (!chosen.ok()) return rekind(chosen.error(), "index " + d.digest.str());
    return follow_descriptor(contents, *chosen, options, depth + 1, plan);
  }
  auto m = oci::parse_manifest(raw, d.media_type);
  if (!m.ok()) return rekind(m.error(), where);
  VMI_CHECK(plan_oci_manifest(contents, *m, where, plan));
  plan.manifest = ManifestDoc{d.digest.str(), m->media_type, std::move(raw)};
  return {};
}

// The index.json entry to follow: the one --ref names, the only one, or (when
// every candidate carries a platform) the one for the wanted platform.
Result<size_t> choose_index_entry(const std::vector<oci::Descriptor>& entries,
                                  const ImportOptions& options,
                                  std::vector<Candidate>& candidates) {
  for (const oci::Descriptor& d : entries) {
    candidates.push_back(Candidate{annotation_names(d), {d.digest.str()}, d.platform});
  }
  std::vector<size_t> matches = match_candidates(candidates, options.ref);
  if (matches.empty() && options.ref) {
    return Error(kKind, "no image in the archive matches \"" + *options.ref +
                            "\"; it holds: " + describe_candidates(candidates));
  }
  if (matches.empty()) return Error(kKind, "index.json lists no image manifest");
  if (matches.size() == 1) return matches.front();
  bool all_platforms = true;
  oci::Index platforms;
  for (size_t i : matches) {
    all_platforms = all_platforms && entries[i].platform.has_value();
    platforms.manifests.push_back(entries[i]);
  }
  if (!all_platforms) return several_images(matches.size(), options, candidates);
  auto chosen = oci::select_platform(platforms, options.platform);
  if (!chosen.ok()) return rekind(chosen.error(), "index.json");
  for (size_t i : matches) {
    if (entries[i].digest == chosen->digest) return i;
  }
  return Error(ErrorKind::kInternal, "index.json: chosen platform entry vanished");
}

Result<Plan> resolve_oci(Contents& contents, const ImportOptions& options) {
  VMI_TRY(std::string raw, contents.document("index.json"));
  auto index = oci::parse_index(raw);
  if (!index.ok()) return rekind(index.error(), "index.json");
  std::vector<oci::Descriptor> entries;
  for (const oci::Descriptor& d : index->manifests) {
    if (oci::is_manifest_media_type(d.media_type) || oci::is_index_media_type(d.media_type)) {
      entries.push_back(d);
    }
  }
  std::vector<Candidate> candidates;
  VMI_TRY(size_t i, choose_index_entry(entries, options, candidates));
  Plan plan;
  plan.format = ArchiveFormat::kOciLayout;
  plan.names = candidates[i].names;
  plan.name = chosen_name(candidates[i], options.ref);
  VMI_CHECK(follow_descriptor(contents, entries[i], options, 0, plan));
  return plan;
}

}  // namespace

std::string blob_path(const oci::Digest& digest) {
  return "blobs/" + std::string(digest.algorithm()) + "/" + std::string(digest.hex());
}

std::optional<oci::Digest> digest_from_blob_path(const std::string& path) {
  constexpr std::string_view kPrefix = "blobs/sha256/";
  if (!path.starts_with(kPrefix)) return std::nullopt;
  auto digest = oci::Digest::parse("sha256:" + path.substr(kPrefix.size()));
  if (!digest.ok()) return std::nullopt;
  return std::move(digest).value();
}

Result<Plan> resolve_plan(Contents& contents, const ImportOptions& options) {
  if (contents.has("manifest.json")) return resolve_docker(contents, options);
  if (contents.has("index.json")) return resolve_oci(contents, options);
  std::string hint;
  if (contents.has("repositories")) {
    hint =
        " (an archive with only \"repositories\", as Docker before 1.10 wrote, is not supported)";
  }
  return Error(kKind,
               "the archive has no manifest.json or index.json: not a docker save or OCI "
               "image archive" +
                   hint);
}

}  // namespace vmimage::archive
