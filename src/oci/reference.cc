// Reference grammar of distribution/reference (reference.go, normalize.go):
//   reference := name [ ":" tag ] [ "@" digest ]
//   name      := [ domain "/" ] path-component ( "/" path-component )*
//   domain    := host [ ":" port ], host a DNS name, IPv4 or [IPv6]
//   path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
#include "oci/reference.h"

#include <algorithm>

#include "util/utf8.h"

namespace vmimage::oci {
namespace {

constexpr size_t kNameTotalLengthMax = 255;
constexpr size_t kTagLengthMax = 128;

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_alnum(char c) {
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}
bool is_word(char c) {
  return is_alnum(c) || c == '_';
}

// The reference being parsed, for errors that point at the offending part.
struct Parse {
  std::string_view input;

  Error fail(std::string_view problem, std::string_view part, size_t offset) const {
    return Error(ErrorKind::kParseReference, "invalid reference \"" + shown(input) + "\": " +
                                                 std::string(problem) + ": \"" + shown(part) +
                                                 "\" at offset " + std::to_string(offset));
  }

  // Input text for a message: bytes that are not UTF-8 escaped, at most 300 bytes.
  static std::string shown(std::string_view text) {
    std::string out = escape_non_utf8(text.substr(0, 300));
    return text.size() > 300 ? out + "..." : out;
  }
};

// Why `c` (one path component) is invalid, or empty when valid.
std::string component_problem(std::string_view c) {
  if (c.empty()) return "empty path component";
  if (std::any_of(c.begin(), c.end(), [](char ch) { return ch >= 'A' && ch <= 'Z'; })) {
    return "repository name must be lowercase";
  }
  // Alternating runs: alphanumerics, then one separator, then alphanumerics again.
  size_t i = 0;
  while (true) {
    if (i >= c.size() || !is_lower_alnum(c[i])) {
      return "path component must start and end with a letter or digit, and separators "
             "('.', '_', '__', '-') must sit between them";
    }
    while (i < c.size() && is_lower_alnum(c[i])) ++i;
    if (i == c.size()) return {};
    if (c[i] == '.') {
      ++i;
    } else if (c[i] == '_') {
      i += (i + 1 < c.size() && c[i + 1] == '_') ? 2 : 1;
    } else if (c[i] == '-') {
      while (i < c.size() && c[i] == '-') ++i;
    } else {
      return "invalid character in path component";
    }
  }
}

bool valid_dns_label(std::string_view label) {
  if (label.empty() || !is_alnum(label.front()) || !is_alnum(label.back())) return false;
  return std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; });
}

// A TCP port: 1..65535 (distribution's grammar takes any digits; no registry
// listens past 65535, so such a reference can only fail later, less clearly).
bool valid_port(std::string_view port) {
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  int value = std::stoi(std::string(port));
  return value >= 1 && value <= 65535;
}

std::string domain_problem(std::string_view domain) {
  std::string_view host = domain;
  std::string_view port;
  if (!domain.empty() && domain.front() == '[') {
    size_t close = domain.find(']');
    if (close == std::string_view::npos) return "unterminated IPv6 address";
    std::string_view ip = domain.substr(1, close - 1);
    bool ok = !ip.empty() && std::all_of(ip.begin(), ip.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
             c == ':' || c == '.';
    });
    if (!ok) return "invalid IPv6 address";
    std::string_view rest = domain.substr(close + 1);
    if (rest.empty()) return {};
    if (rest.front() != ':' || !valid_port(rest.substr(1))) return "invalid port (1-65535)";
    return {};
  }
  size_t colon = domain.find(':');
  if (colon != std::string_view::npos) {
    host = domain.substr(0, colon);
    port = domain.substr(colon + 1);
    if (!valid_port(port)) return "invalid port (1-65535)";
  }
  size_t start = 0;
  while (true) {
    size_t dot = host.find('.', start);
    if (!valid_dns_label(host.substr(start, dot - start))) return "invalid registry host";
    if (dot == std::string_view::npos) return {};
    start = dot + 1;
  }
}

std::string tag_problem(std::string_view tag) {
  if (tag.empty()) return "empty tag";
  if (tag.size() > kTagLengthMax) return "tag longer than 128 characters";
  if (!is_word(tag.front())) return "tag must start with a letter, digit or '_'";
  for (char c : tag) {
    if (!is_word(c) && c != '.' && c != '-') return "invalid character in tag";
  }
  return {};
}

// Docker treats the first component as a registry only when it looks like one.
bool looks_like_domain(std::string_view first) {
  return first.find_first_of(".:") != std::string_view::npos || first == "localhost" ||
         std::any_of(first.begin(), first.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

bool is_64_hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Splits and checks "name" (no tag, no digest) that starts at `offset` in the input.
Status parse_name(const Parse& p, std::string_view name, Reference& ref) {
  if (name.empty()) return p.fail("empty repository name", name, 0);
  size_t slash = name.find('/');
  std::string_view path = name;
  size_t path_offset = 0;
  ref.domain = std::string(kDockerHubDomain);
  if (slash != std::string_view::npos && looks_like_domain(name.substr(0, slash))) {
    std::string_view domain = name.substr(0, slash);
    std::string problem = domain_problem(domain);
    if (!problem.empty()) return p.fail(problem, domain, 0);
    ref.domain = domain == "index.docker.io" ? std::string(kDockerHubDomain) : std::string(domain);
    path = name.substr(slash + 1);
    path_offset = slash + 1;
  } else if (is_64_hex(name)) {
    return p.fail("cannot use a 64-character hex string as a repository name", name, 0);
  }
  for (size_t start = 0;;) {
    size_t end = path.find('/', start);
    std::string_view component = path.substr(start, end - start);
    std::string problem = component_problem(component);
    if (!problem.empty()) return p.fail(problem, component, path_offset + start);
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  ref.path = std::string(path);
  if (ref.domain == kDockerHubDomain && path.find('/') == std::string_view::npos) {
    ref.path = "library/" + ref.path;
  }
  if (ref.name().size() > kNameTotalLengthMax) {
    return p.fail("repository name longer than 255 characters", name, 0);
  }
  return {};
}

}  // namespace

std::string Reference::name() const {
  return domain + "/" + path;
}

std::string Reference::str() const {
  std::string out = name();
  if (!tag.empty()) out += ":" + tag;
  if (digest) out += "@" + digest->str();
  return out;
}

std::string Reference::identifier() const {
  return digest ? digest->str() : tag;
}

std::string Reference::api_host() const {
  return domain == kDockerHubDomain ? std::string(kDockerHubApiHost) : domain;
}

Result<Reference> parse_reference(std::string_view text) {
  Parse p{text};
  if (text.empty()) return Error(ErrorKind::kParseReference, "invalid reference: empty string");
  Reference ref;
  std::string_view rest = text;
  size_t at = text.find('@');
  if (at != std::string_view::npos) {
    std::string_view digest = text.substr(at + 1);
    std::string problem = digest_syntax_problem(digest);
    if (!problem.empty()) return p.fail(problem, digest, at + 1);
    ref.digest = Digest::parse(digest).value();
    rest = text.substr(0, at);
  }
  size_t colon = rest.rfind(':');
  size_t last_slash = rest.rfind('/');
  if (colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || colon > last_slash)) {
    std::string_view tag = rest.substr(colon + 1);
    std::string problem = tag_problem(tag);
    if (!problem.empty()) return p.fail(problem, tag, colon + 1);
    ref.tag = std::string(tag);
    rest = rest.substr(0, colon);
  }
  VMI_CHECK(parse_name(p, rest, ref));
  if (ref.tag.empty() && !ref.digest) ref.tag = "latest";
  return ref;
}

Result<Reference> parse_repository(std::string_view text) {
  Parse p{text};
  if (text.find('@') != std::string_view::npos) {
    return p.fail("a repository name has no digest", text, text.find('@'));
  }
  size_t colon = text.rfind(':');
  size_t last_slash = text.rfind('/');
  if (colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || colon > last_slash)) {
    return p.fail("a repository name has no tag", text.substr(colon), colon);
  }
  Reference ref;
  VMI_CHECK(parse_name(p, text, ref));
  return ref;
}

}  // namespace vmimage::oci
