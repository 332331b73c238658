// Choosing one image among those an archive holds: by name (RepoTags or index
// annotations, compared raw and as normalized references) or by digest prefix.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "oci/platform.h"
#include "vmimage/result.h"

namespace vmimage::archive {

struct Candidate {
  std::vector<std::string> names;
  std::vector<std::string> digests;  // "sha256:..." it may be chosen by (config, manifest)
  std::optional<oci::Platform> platform;
};

// Whether `ref` names this candidate (by one of its names or a digest prefix of
// at least 12 hex digits).
bool candidate_matches(const Candidate& candidate, const std::string& ref);

// The indexes of the candidates `ref` selects (all of them without a ref).
std::vector<size_t> match_candidates(const std::vector<Candidate>& candidates,
                                     const std::optional<std::string>& ref);

// "foo:1, bar:latest (linux/arm64), <unnamed sha256:0123456789ab>" for error messages.
std::string describe_candidates(const std::vector<Candidate>& candidates);

// The name to report: the name `ref` matched, else the only name, else "".
std::string chosen_name(const Candidate& candidate, const std::optional<std::string>& ref);

}  // namespace vmimage::archive
