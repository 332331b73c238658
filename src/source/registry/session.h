// A conversation with one registry host: the /v2/ probe (and the fall back to
// plain HTTP that only loopback and insecure registries get), authentication
// (Basic, or Bearer tokens cached per scope), redirects that never carry the
// Authorization header off the registry's origin, and retries. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "io/cancel.h"
#include "source/registry/auth.h"
#include "source/registry/credentials.h"
#include "source/registry/http.h"
#include "source/registry/retry.h"

namespace vmimage::registry {

using CredentialLookup = std::function<Result<std::optional<Credential>>(
    std::string_view domain, std::string_view repository)>;

struct SessionConfig {
  std::string domain;    // as in references: credentials are looked up by it
  std::string api_host;  // host[:port] spoken to
  std::vector<std::string> insecure_registries;
  TransportOptions transport;
  RetryPolicy retry;
  CredentialLookup credentials;  // may be empty: anonymous only
  // One document (the /v2/ probe, a manifest, a token), retries included.
  std::chrono::seconds document_timeout{60};
  int max_redirects = 5;
};

struct RequestSpec {
  std::string method = "GET";
  std::string path;  // "/v2/<repository>/manifests/<reference>"
  std::string url;   // instead of path: an absolute URL on the registry (an upload's Location)
  std::string repository;        // the auth scope; "" for none
  std::string actions = "pull";  // of the scope: "pull", or "pull,push" to write
  std::vector<std::string> headers;
  std::string body;                  // for POST and PUT
  std::optional<UploadBody> upload;  // a body streamed from a file instead
  io::CancelFlag cancel = nullptr;
};

// The moment a document fetched from now must be complete by.
RetryState::Deadline document_deadline(const SessionConfig& config);

struct Response {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string location;  // the Location header (an upload's URL), "" when none
};

class Session {
 public:
  Session(HttpPool& pool, SessionConfig config);

  // Sends a request with authentication, redirects and retries (counted in
  // `retry`, which may carry a deadline for the whole exchange), and returns
  // the response once its status is final: 2xx, or an error status the caller
  // must judge (404, 416, ...). 401s that new credentials cannot fix,
  // exhausted retries and transport errors are errors; `transient`, when
  // given, says whether such an error is one another attempt may not meet
  // (a lost connection, a 5xx or 429 answer) rather than a refusal.
  Result<std::unique_ptr<HttpTransfer>> open(const RequestSpec& spec, RetryState& retry,
                                             bool* transient = nullptr);
  // Learns how to reach the registry (the /v2/ probe), once: url_for() is
  // right from then on.
  Status probe(io::CancelFlag cancel);

  // open() plus the body, at most `limit` bytes, within the document timeout.
  Result<Response> fetch(const RequestSpec& spec, size_t limit);

  // Whether the registry accepts the credentials of the lookup (for
  // repository ""): Basic on /v2/, or a token for no scope; fine when the
  // registry asks for none.
  Status check_credentials(io::CancelFlag cancel = nullptr);

  const SessionConfig& config() const { return config_; }
  std::string url_for(const std::string& path) const;

 private:
  struct Sent {
    std::unique_ptr<HttpTransfer> transfer;
    std::optional<Error> error;
    Failure failure = Failure::kNone;
  };

  Status ensure_probed(RetryState& retry);
  Result<std::string> authorization(const std::string& repository, const std::string& actions,
                                    io::CancelFlag cancel);
  Sent send(HttpRequest request, const std::string& authorization,
            const RetryState::Deadline& deadline, io::CancelFlag cancel);
  TransportOptions transport_for(const std::string& url, const RetryState::Deadline& deadline,
                                 io::CancelFlag cancel = nullptr) const;
  Error deadline_error(const std::string& what) const;
  bool plain_http_allowed(const std::string& host_port) const;

  Error access_denied(HttpTransfer& response, const std::string& what,
                      const std::string& repository);
  Status wait_for_retry(HttpTransfer& response, const std::string& what, RetryState& retry);
  Status on_unauthorized(HttpTransfer& response, const std::string& repository,
                         const std::string& actions, const std::string& sent);
  Result<HttpRequest> token_request(const Challenge& challenge, const std::string& scope,
                                    const std::optional<Credential>& credential) const;
  Result<Token> fetch_token(const Challenge& challenge, const std::string& scope,
                            const std::optional<Credential>& credential, io::CancelFlag cancel);
  Result<std::optional<Credential>> credentials(const std::string& repository);
  std::string credential_origin(const std::optional<Credential>& c) const;

  HttpPool& pool_;
  SessionConfig config_;

  std::mutex probe_mu_;
  bool probed_ = false;
  std::string base_url_;  // "https://host:port" or "http://host:port", set by the probe

  std::mutex auth_mu_;  // held while fetching tokens: one token request at a time
  std::optional<Challenge> challenge_;
  std::map<std::string, std::string> challenge_scopes_;  // our scope -> the one the registry named
  std::map<std::string, std::optional<Credential>> credential_cache_;
  TokenCache tokens_;
};

// "UNAUTHORIZED: authentication required" from a registry's JSON error body
// (distribution spec "Error Codes"), or "" when it has none.
std::string registry_error_summary(std::string_view body);

// Reads a whole response body, failing past `limit` bytes.
Result<std::string> read_body(HttpTransfer& transfer, size_t limit);

}  // namespace vmimage::registry
