// URL helpers for the registry client: origins (for the redirect rule that keeps
// Authorization on the registry's own origin), loopback and insecure-host
// checks, percent-encoding, and redaction of URLs before they reach any message.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace vmimage::registry {

struct UrlParts {
  std::string scheme;  // lower case
  std::string host;    // as written; IPv6 keeps its brackets
  std::string port;    // explicit port, or the scheme's default
  std::string target;  // path and query, "/" when empty
};

// Splits an absolute http(s) URL; false when it is not one.
bool split_url(std::string_view url, UrlParts& out);

// "scheme://host:port" with the default port made explicit, or "" for a bad URL.
std::string url_origin(std::string_view url);

// The URL without credentials, query values or fragment: secrets in signed CDN
// URLs (X-Amz-Signature, sig=...) and userinfo never reach errors or logs.
std::string redact_url(std::string_view url);

// The host part of "host[:port]" / "[v6]:port", without brackets, lower case.
std::string host_without_port(std::string_view host_port);

// localhost, 127.0.0.0/8 and ::1, as Docker treats them.
bool is_loopback(std::string_view host_port);

// Whether "host[:port]" is listed: an entry with a port must match it exactly,
// an entry without one matches any port of that host.
bool host_listed(std::string_view host_port, const std::vector<std::string>& list);

// application/x-www-form-urlencoded / query component encoding (RFC 3986 unreserved kept).
std::string url_encode(std::string_view s);

}  // namespace vmimage::registry
