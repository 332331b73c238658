// URL parsing limited to what registry, token-service and CDN URLs need.
#include "source/registry/url.h"

#include <algorithm>
#include <cctype>

namespace vmimage::registry {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Splits "host[:port]" (IPv6 in brackets) into host and port.
void split_host_port(std::string_view hp, std::string& host, std::string& port) {
  if (!hp.empty() && hp.front() == '[') {
    size_t close = hp.find(']');
    host = std::string(hp.substr(0, close == std::string_view::npos ? hp.size() : close + 1));
    if (close != std::string_view::npos && close + 1 < hp.size() && hp[close + 1] == ':') {
      port = std::string(hp.substr(close + 2));
    }
    return;
  }
  size_t colon = hp.rfind(':');
  // No colon, or a bare IPv6 address (several colons, no brackets): no port.
  if (colon == std::string_view::npos || hp.find(':') != colon) {
    host = std::string(hp);
    return;
  }
  host = std::string(hp.substr(0, colon));
  port = std::string(hp.substr(colon + 1));
}

}  // namespace

bool split_url(std::string_view url, UrlParts& out) {
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) return false;
  out.scheme = lower(url.substr(0, sep));
  if (out.scheme != "http" && out.scheme != "https") return false;
  std::string_view rest = url.substr(sep + 3);
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) authority = authority.substr(at + 1);
  out.port.clear();
  split_host_port(authority, out.host, out.port);
  if (out.host.empty()) return false;
  if (out.port.empty()) out.port = out.scheme == "https" ? "443" : "80";
  out.target = end == std::string_view::npos ? "/" : std::string(rest.substr(end));
  if (out.target.front() != '/') out.target.insert(0, "/");
  return true;
}

std::string url_origin(std::string_view url) {
  UrlParts p;
  if (!split_url(url, p)) return {};
  return p.scheme + "://" + lower(p.host) + ":" + p.port;
}

std::string redact_url(std::string_view url) {
  std::string_view rest = url;
  std::string out;
  size_t sep = url.find("://");
  if (sep != std::string_view::npos) {
    out = std::string(url.substr(0, sep + 3));
    rest = url.substr(sep + 3);
    size_t end = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, end);
    size_t at = authority.rfind('@');
    if (at != std::string_view::npos) {
      out += "REDACTED@";
      rest.remove_prefix(at + 1);
    }
  }
  rest = rest.substr(0, rest.find('#'));
  size_t q = rest.find('?');
  out += std::string(rest.substr(0, q));
  if (q == std::string_view::npos) return out;
  std::string_view query = rest.substr(q + 1);
  out += "?";
  bool first = true;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (!first) out += "&";
    first = false;
    out += std::string(pair.substr(0, eq));
    if (eq != std::string_view::npos) out += "=REDACTED";
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

std::string host_without_port(std::string_view host_port) {
  std::string host, port;
  split_host_port(host_port, host, port);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return lower(host);
}

bool is_loopback(std::string_view host_port) {
  std::string host = host_without_port(host_port);
  if (host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1") return true;
  if (host.rfind("127.", 0) != 0) return false;
  // A dotted IPv4 literal in 127.0.0.0/8, not a name like "127.example.com".
  int dots = 0;
  for (char c : host) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots == 3;
}

bool host_listed(std::string_view host_port, const std::vector<std::string>& list) {
  std::string host, port;
  split_host_port(lower(host_port), host, port);
  for (const std::string& entry : list) {
    std::string eh, ep;
    split_host_port(lower(entry), eh, ep);
    if (eh == host && (ep.empty() || ep == port)) return true;
  }
  return false;
}

std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace vmimage::registry
