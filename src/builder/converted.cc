#include "builder/converted.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "oci/manifest.h"
#include "oci/media_types.h"

namespace vmimage::builder {
namespace {

// Read-add-write rounds of the referrers tag index before giving up.
constexpr int kIndexAttempts = 8;
// How long an entry must stay in the referrers tag index to count as there:
// longer than another writer's read, its wait before writing (at most 190 ms)
// and its write with the first two retries of a DIGEST_INVALID answer
// (backoffs of 125–250 and 250–500 ms with the default policy).
constexpr std::chrono::milliseconds kSettle{1500};

std::optional<oci::Digest> fitting(const oci::Index& index, std::string_view layout,
                                   bool verity) {
  for (const oci::Descriptor& d : index.manifests) {
    if (d.artifact_type != kConvertedArtifactType) continue;
    auto annotation = [&](std::string_view key) {
      auto it = d.annotations.find(std::string(key));
      return it == d.annotations.end() ? std::string() : it->second;
    };
    if (annotation(kFormatAnnotation) != kFormatVersion) continue;
    if (annotation(kLayoutAnnotation) != layout) continue;
    if (verity && annotation(kVerityAnnotation) != "true") continue;
    return d.digest;
  }
  return std::nullopt;
}

oci::Reference tagged(const oci::Reference& repo, std::string tag) {
  oci::Reference ref = repo;
  ref.tag = std::move(tag);
  ref.digest.reset();
  return ref;
}

nlohmann::ordered_json descriptor_json(const oci::Descriptor& d) {
  nlohmann::ordered_json j = {
      {"mediaType", d.media_type}, {"digest", d.digest.str()}, {"size", d.size}};
  if (!d.artifact_type.empty()) j["artifactType"] = d.artifact_type;
  if (!d.annotations.empty()) j["annotations"] = d.annotations;
  return j;
}

}  // namespace

std::string referrers_tag(const oci::Digest& subject) {
  return std::string(subject.algorithm()) + "-" + std::string(subject.hex());
}

Result<std::optional<oci::Digest>> find_converted(registry::Client& client,
                                                  const oci::Reference& repo,
                                                  const oci::Digest& source,
                                                  std::string_view layout, bool verity,
                                                  io::CancelFlag cancel) {
  std::string where = "converted images of " + source.str() + " in " + repo.name();
  VMI_TRY(std::optional<std::string> listed,
          client.referrers(repo, source, kConvertedArtifactType, cancel));
  if (listed) {
    auto index = oci::parse_index(*listed, oci::kOciIndex);
    if (!index) return std::move(index).error().context(where + " (referrers API)");
    return fitting(*index, layout, verity);
  }
  oci::Reference ref = tagged(repo, referrers_tag(source));
  VMI_TRY(std::optional<registry::FetchedDocument> doc, client.fetch_document(ref, cancel));
  if (!doc) return std::optional<oci::Digest>();
  auto index = oci::parse_index(doc->bytes, doc->content_type);
  if (!index) return std::move(index).error().context(where + " (referrers tag " + ref.str() + ")");
  return fitting(*index, layout, verity);
}

Status register_converted(registry::Client& client, const oci::Reference& repo,
                          const oci::Digest& source, const PushResult& pushed,
                          io::CancelFlag cancel) {
  VMI_TRY(std::optional<std::string> listed,
          client.referrers(repo, source, kConvertedArtifactType, cancel));
  if (listed) return {};  // the registry lists subjects itself
  oci::Descriptor entry;
  entry.media_type = oci::kOciManifest;
  VMI_TRY(entry.digest, oci::Digest::parse(pushed.digest, ErrorKind::kPushImage));
  entry.size = static_cast<int64_t>(pushed.size);
  entry.artifact_type = kConvertedArtifactType;
  entry.annotations = pushed.annotations;

  oci::Reference ref = tagged(repo, referrers_tag(source));
  std::minstd_rand jitter(std::random_device{}());
  bool seen = false;  // present when last read
  for (int writes = 0; writes < kIndexAttempts;) {
    VMI_TRY(std::optional<registry::FetchedDocument> doc, client.fetch_document(ref, cancel));
    oci::Index index;
    if (doc) {
      auto parsed = oci::parse_index(doc->bytes, doc->content_type);
      if (!parsed) return std::move(parsed).error().context("the referrers index " + ref.str());
      index = std::move(*parsed);
    }
    bool present = std::any_of(index.manifests.begin(), index.manifests.end(),
                               [&](const oci::Descriptor& d) { return d.digest == entry.digest; });
    // Seen twice, kSettle apart: a writer that read the index before this
    // entry was in it has written by now (the tag has no compare-and-swap).
    if (present && seen) return {};
    seen = present;
    if (present) {
      std::this_thread::sleep_for(kSettle);
      continue;
    }
    if (writes > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20 * writes + jitter() % 50));
    }
    index.manifests.push_back(entry);
    nlohmann::ordered_json out = {{"schemaVersion", 2}, {"mediaType", oci::kOciIndex}};
    out["manifests"] = nlohmann::ordered_json::array();
    for (const oci::Descriptor& d : index.manifests) out["manifests"].push_back(descriptor_json(d));
    VMI_CHECK(client.put_manifest(ref, std::string(oci::kOciIndex), out.dump(), cancel));
    ++writes;
    // Read back next: a publisher that wrote at the same time may have
    // replaced it with an index that lacks this entry.
  }
  return Error(ErrorKind::kPushImage, "the referrers index " + ref.str() + " kept losing " +
                                          pushed.digest + " to other writers (" +
                                          std::to_string(kIndexAttempts) + " attempts)");
}

}  // namespace vmimage::builder
