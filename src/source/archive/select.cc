// Image selection inside an archive; see select.h.
#include "source/archive/select.h"

#include "oci/reference.h"
#include "util/text.h"

namespace vmimage::archive {
namespace {

constexpr size_t kMinDigestPrefix = 12;
constexpr size_t kShownCandidates = 5;

std::optional<std::string> normalized(const std::string& name) {
  auto ref = oci::parse_reference(name);
  if (!ref.ok()) return std::nullopt;
  return ref->str();
}

bool name_matches(const std::string& name, const std::string& ref) {
  if (name == ref) return true;
  auto a = normalized(name);
  auto b = normalized(ref);
  return a && b && *a == *b;
}

// "sha256:abc..." or "abc...": a lower-case hex prefix long enough to be meant as an id.
std::optional<std::string> digest_prefix(const std::string& ref) {
  std::string hex = ref.starts_with("sha256:") ? ref.substr(7) : ref;
  if (hex.size() < kMinDigestPrefix || hex.size() > 64) return std::nullopt;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  return "sha256:" + hex;
}

}  // namespace

bool candidate_matches(const Candidate& candidate, const std::string& ref) {
  for (const std::string& name : candidate.names) {
    if (name_matches(name, ref)) return true;
  }
  if (auto prefix = digest_prefix(ref)) {
    for (const std::string& digest : candidate.digests) {
      if (digest.starts_with(*prefix)) return true;
    }
  }
  return false;
}

std::vector<size_t> match_candidates(const std::vector<Candidate>& candidates,
                                     const std::optional<std::string>& ref) {
  std::vector<size_t> out;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (!ref || candidate_matches(candidates[i], *ref)) out.push_back(i);
  }
  return out;
}

std::string describe_candidates(const std::vector<Candidate>& candidates) {
  std::vector<std::string> described;
  for (size_t k = 0; k < candidates.size() && k <= kShownCandidates; ++k) {
    const Candidate& c = candidates[k];
    std::string out;
    if (c.names.empty()) {
      std::string id = c.digests.empty() ? "" : " " + c.digests.front().substr(0, 7 + 12);
      out += "<unnamed" + id + ">";
    } else {
      out += join_some(c.names, 3, " ");
    }
    if (c.platform) out += " (" + c.platform->str() + ")";
    described.push_back(std::move(out));
  }
  if (candidates.size() > described.size()) {
    described.resize(candidates.size());  // join_some counts the rest
  }
  return described.empty() ? "nothing" : join_some(described, kShownCandidates);
}

std::string chosen_name(const Candidate& candidate, const std::optional<std::string>& ref) {
  if (ref) {
    for (const std::string& name : candidate.names) {
      if (name_matches(name, *ref)) return name;
    }
  }
  return candidate.names.size() == 1 ? candidate.names.front() : std::string();
}

}  // namespace vmimage::archive
