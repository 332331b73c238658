// Image references ("alpine", "host:5000/a/b:tag", "name@sha256:...") parsed and
// normalized the way Docker and distribution/reference do.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "oci/digest.h"
#include "vmimage/result.h"

namespace vmimage::oci {

inline constexpr std::string_view kDockerHubDomain = "docker.io";
inline constexpr std::string_view kDockerHubApiHost = "registry-1.docker.io";

struct Reference {
  std::string domain;            // "docker.io", "localhost:5000", "[::1]:5000"
  std::string path;              // "library/alpine"
  std::string tag;               // empty when only a digest was given
  std::optional<Digest> digest;  // when set, it is what gets pulled (it wins over the tag)

  // "docker.io/library/alpine"
  std::string name() const;
  // The normalized text: name[:tag][@digest].
  std::string str() const;
  // What goes into /v2/<path>/manifests/<id>: the digest when set, else the tag.
  std::string identifier() const;
  // The host:port to talk to: registry-1.docker.io for docker.io.
  std::string api_host() const;

  friend bool operator==(const Reference&, const Reference&) = default;
};

// Parses and normalizes: no domain means docker.io, a one-component docker.io
// path gains "library/", index.docker.io becomes docker.io, and neither tag nor
// digest means ":latest". Errors are kParseReference and name the bad part.
Result<Reference> parse_reference(std::string_view text);

// A repository name without tag or digest ("alpine" -> docker.io/library/alpine).
Result<Reference> parse_repository(std::string_view text);

}  // namespace vmimage::oci
