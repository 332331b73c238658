// Registry requests: probe, auth, redirects, retries (distribution spec
// "API Version Check", spec/auth/token.md, spec/auth/oauth.md).
#include "source/registry/session.h"

#include <nlohmann/json.hpp>

#include "oci/json_util.h"
#include "source/registry/url.h"

namespace vmimage::registry {
namespace {

constexpr ErrorKind kKind = ErrorKind::kPullImage;
constexpr size_t kMaxErrorBody = 64 * 1024;
constexpr size_t kMaxTokenBody = 1 << 20;

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// Prefers Bearer over Basic when a registry offers both.
std::optional<Challenge> pick_challenge(const HttpTransfer& t) {
  std::optional<Challenge> basic;
  for (const std::string& value : t.header_values("www-authenticate")) {
    auto parsed = parse_challenges(value);
    if (!parsed) continue;
    for (Challenge& c : *parsed) {
      if (c.scheme == "bearer") return c;
      if (c.scheme == "basic" && !basic) basic = c;
    }
  }
  return basic;
}

std::optional<std::chrono::milliseconds> retry_after(const HttpTransfer& t) {
  return parse_retry_after(t.header("retry-after"), std::chrono::system_clock::now());
}

// Retry-After where an over-long wait needs no message of its own: capped.
std::optional<std::chrono::milliseconds> capped_retry_after(const HttpTransfer& t,
                                                            const RetryPolicy& policy) {
  auto wait = retry_after(t);
  if (wait && *wait > policy.max_retry_after) wait = policy.max_retry_after;
  return wait;
}

}  // namespace

std::string registry_error_summary(std::string_view body) {
  auto parsed = oci::json::parse_object(body, "error body", kKind);
  if (!parsed.ok()) return {};
  const nlohmann::json& doc = *parsed;
  auto errors = doc.find("errors");
  if (errors == doc.end() || !errors->is_array() || errors->empty()) return {};
  const auto& first = (*errors)[0];
  if (!first.is_object()) return {};
  std::string code = first.value("code", "");
  std::string message = first.value("message", "");
  if (code.empty()) return message;
  return message.empty() ? code : code + ": " + message;
}

Result<std::string> read_body(HttpTransfer& transfer, size_t limit) {
  std::string out;
  std::byte buf[16384];
  while (true) {
    VMI_TRY(size_t n, transfer.read(buf));
    if (n == 0) return out;
    if (out.size() + n > limit) {
      return Error(kKind, transfer.request().method + " " + redact_url(transfer.request().url) +
                              ": response larger than " + std::to_string(limit) + " bytes");
    }
    out.append(reinterpret_cast<const char*>(buf), n);
  }
}

RetryState::Deadline document_deadline(const SessionConfig& config) {
  return std::chrono::steady_clock::now() + config.document_timeout;
}

Session::Session(HttpPool& pool, SessionConfig config) : pool_(pool), config_(std::move(config)) {}

Error Session::deadline_error(const std::string& what) const {
  return Error(kKind, what + ": no complete answer within " +
                          std::to_string(config_.document_timeout.count()) +
                          " s, retries included (limit document-timeout)");
}

std::string Session::url_for(const std::string& path) const {
  return base_url_ + path;
}

bool Session::plain_http_allowed(const std::string& host_port) const {
  return is_loopback(host_port) || host_listed(host_port, config_.insecure_registries);
}

TransportOptions Session::transport_for(const std::string& url,
                                        const RetryState::Deadline& deadline,
                                        io::CancelFlag cancel) const {
  TransportOptions t = config_.transport;
  t.deadline = deadline;
  t.cancel = cancel;
  UrlParts parts;
  if (split_url(url, parts)) {
    std::string host_port = parts.host + ":" + parts.port;
    // Only registries named insecure skip certificate checks; loopback does not.
    t.verify_tls = !host_listed(host_port, config_.insecure_registries) &&
                   !host_listed(parts.host, config_.insecure_registries);
  }
  return t;
}

Session::Sent Session::send(HttpRequest request, const std::string& authorization,
                            const RetryState::Deadline& deadline, io::CancelFlag cancel) {
  std::string origin = url_origin(base_url_.empty() ? request.url : base_url_);
  std::string first = redact_url(request.url);
  auto refuse = [&](const std::string& why) {
    return Sent{nullptr, Error(kKind, request.method + " " + first + ": " + why),
                Failure::kPermanent};
  };
  for (int hop = 0;; ++hop) {
    HttpRequest r = request;
    // Blob redirects to storage or a CDN are normal; the registry's credentials stay home.
    if (!authorization.empty() && url_origin(r.url) == origin) {
      r.headers.push_back("Authorization: " + authorization);
    }
    auto t = std::make_unique<HttpTransfer>(pool_, std::move(r),
                                            transport_for(request.url, deadline, cancel));
    Status s = t->start();
    if (!s) return Sent{nullptr, std::move(s).error(), t->failure()};
    if (!is_redirect(t->status())) return Sent{std::move(t)};
    std::string status = std::to_string(t->status());
    std::string next = t->redirect_url();
    if (next.empty()) return refuse("redirect (" + status + ") without a Location");
    UrlParts parts;
    if (!split_url(next, parts)) {
      return refuse("refusing a redirect (" + status + ") to " + redact_url(next) +
                    ": only http and https URLs are followed");
    }
    if (hop == config_.max_redirects) {
      return refuse("more than " + std::to_string(config_.max_redirects) +
                    " redirects (limit max-redirects); the last went to " + redact_url(next));
    }
    if (parts.scheme == "http" && !plain_http_allowed(parts.host + ":" + parts.port)) {
      return refuse("refusing a redirect from " + redact_url(request.url) + " to plain HTTP " +
                    redact_url(next));
    }
    if (t->status() == 303) {
      request.method = "GET";
      request.body.clear();
      request.upload.reset();
    }
    request.url = next;
  }
}

Status Session::ensure_probed(RetryState& retry) {
  std::lock_guard lock(probe_mu_);
  if (probed_) return {};
  base_url_ = "https://" + config_.api_host;
  RetryState::Deadline deadline = document_deadline(config_);
  while (true) {
    Sent sent = send(HttpRequest{"GET", base_url_ + "/v2/", {}, {}}, "", deadline, retry.cancel());
    if (sent.error) {
      if (sent.failure == Failure::kTlsHandshake && base_url_.rfind("https:", 0) == 0 &&
          plain_http_allowed(config_.api_host)) {
        base_url_ = "http://" + config_.api_host;  // a loopback or insecure registry without TLS
        continue;
      }
      if (sent.failure == Failure::kTransient && retry.next()) continue;
      return std::move(*sent.error).context("contacting registry " + config_.api_host);
    }
    int status = sent.transfer->status();
    if (is_retryable_status(status) &&
        retry.next(capped_retry_after(*sent.transfer, retry.policy()))) {
      continue;
    }
    if (status == 401) {
      std::lock_guard auth_lock(auth_mu_);
      challenge_ = pick_challenge(*sent.transfer);
    }
    // Read the (small) body to its end: a transfer dropped before its body
    // arrived closes the connection, and the next request would open another
    // (a TLS handshake more, for a registry with TLS).
    (void)read_body(*sent.transfer, kMaxErrorBody);
    probed_ = true;
    return {};
  }
}

Error Session::access_denied(HttpTransfer& t, const std::string& what,
                             const std::string& repository) {
  auto body = read_body(t, kMaxErrorBody);
  std::string summary = body ? registry_error_summary(*body) : "";
  std::optional<Credential> cred;
  {
    std::lock_guard lock(auth_mu_);
    if (auto c = credentials(repository); c.ok()) cred = *c;
  }
  return Error(kKind, what + ": " + status_text(t.status()) +
                          (summary.empty() ? "" : " (" + summary + ")") + "; " +
                          credential_origin(cred));
}

// Waits out a retryable status; an error when the retries are spent or the
// registry asks for a longer wait than the policy allows.
Status Session::wait_for_retry(HttpTransfer& t, const std::string& what, RetryState& retry) {
  int status = t.status();
  std::optional<std::chrono::milliseconds> wait;
  if (status == 429 || status == 503) wait = retry_after(t);
  if (wait && *wait > retry.policy().max_retry_after) {
    return Error(kKind, what + ": " + status_text(status) + ": the registry asks to retry after " +
                            std::to_string(wait->count() / 1000) + " s, more than the " +
                            std::to_string(retry.policy().max_retry_after.count() / 1000) +
                            " s allowed");
  }
  if (retry.next(wait)) return {};
  if (retry.cancelled()) return io::cancelled_error();
  if (retry.out_of_time()) return deadline_error(what + ": " + status_text(status));
  return Error(kKind, what + ": " + status_text(status) + " after " +
                          std::to_string(retry.failures() + 1) + " attempts");
}

Status Session::probe(io::CancelFlag cancel) {
  RetryState retry(config_.retry, document_deadline(config_), cancel);
  return ensure_probed(retry);
}

Result<std::unique_ptr<HttpTransfer>> Session::open(const RequestSpec& spec, RetryState& retry,
                                                    bool* transient) {
  if (transient) *transient = false;
  VMI_CHECK(ensure_probed(retry));
  std::string what =
      spec.method + " " + redact_url(spec.url.empty() ? url_for(spec.path) : spec.url);
  bool reauthenticated = false;
  while (true) {
    VMI_CHECK(io::check_cancel(spec.cancel));
    VMI_TRY(std::string authz, authorization(spec.repository, spec.actions, spec.cancel));
    HttpRequest request{spec.method, spec.url.empty() ? url_for(spec.path) : spec.url,
                        spec.headers, spec.body, spec.upload};
    Sent sent = send(std::move(request), authz, retry.deadline(), spec.cancel);
    if (sent.error) {
      if (sent.failure != Failure::kTransient) return std::move(*sent.error);
      if (retry.next()) continue;
      if (retry.cancelled()) return io::cancelled_error();
      if (retry.out_of_time()) return deadline_error(what);
      if (transient) *transient = true;
      return std::move(*sent.error)
          .context("giving up after " + std::to_string(retry.failures() + 1) + " attempts");
    }
    HttpTransfer& t = *sent.transfer;
    if (t.status() == 401 && !reauthenticated) {
      reauthenticated = true;
      VMI_CHECK(on_unauthorized(t, spec.repository, spec.actions, authz));
      continue;
    }
    if (t.status() == 401 || t.status() == 403) return access_denied(t, what, spec.repository);
    if (is_retryable_status(t.status())) {
      Status waited = wait_for_retry(t, what, retry);
      if (!waited && transient) *transient = waited.error().kind() != ErrorKind::kCancelled;
      VMI_CHECK(std::move(waited));
      continue;
    }
    return std::move(sent.transfer);
  }
}

Result<Response> Session::fetch(const RequestSpec& spec, size_t limit) {
  RetryState retry(config_.retry, document_deadline(config_), spec.cancel);
  while (true) {
    VMI_TRY(auto t, open(spec, retry));
    auto body = read_body(*t, limit);
    if (!body) {
      if (t->failure() == Failure::kTransient && retry.next()) continue;
      return std::move(body).error();
    }
    return Response{t->status(), std::move(body).value(), t->header("content-type"),
                    t->header("location")};
  }
}

Status Session::check_credentials(io::CancelFlag cancel) {
  RetryState retry(config_.retry, document_deadline(config_), cancel);
  VMI_CHECK(ensure_probed(retry));
  std::optional<Challenge> challenge;
  std::optional<Credential> cred;
  {
    std::lock_guard lock(auth_mu_);
    challenge = challenge_;
    VMI_TRY(cred, credentials(""));
  }
  if (!challenge) return {};  // the registry asks for no credentials
  std::string what = "registry " + config_.api_host;
  if (!cred || cred->username.empty()) return Error(kKind, what + ": no username given");
  if (challenge->scheme == "bearer") {
    // As docker login: a token for no scope proves the account.
    auto token = fetch_token(*challenge, "", cred, cancel);
    if (!token) return std::move(token).error();
    return {};
  }
  Sent sent = send(HttpRequest{"GET", url_for("/v2/"), {}, {}, {}},
                   basic_authorization(cred->username, cred->password), retry.deadline(), cancel);
  if (sent.error) return std::move(*sent.error);
  int status = sent.transfer->status();
  (void)read_body(*sent.transfer, kMaxErrorBody);
  if (status == 401 || status == 403) {
    return Error(kKind, what + " rejected the username or password (" + status_text(status) + ")");
  }
  if (status / 100 != 2) return Error(kKind, what + ": GET /v2/: " + status_text(status));
  return {};
}

Result<std::optional<Credential>> Session::credentials(const std::string& repository) {
  auto it = credential_cache_.find(repository);
  if (it != credential_cache_.end()) return it->second;
  std::optional<Credential> found;
  if (config_.credentials) {
    VMI_TRY(found, config_.credentials(config_.domain, repository));
  }
  credential_cache_[repository] = found;
  return found;
}

std::string Session::credential_origin(const std::optional<Credential>& c) const {
  if (!c) return "no credentials found for " + config_.domain;
  return "credentials for " + config_.domain + " from " + c->source;
}

Result<std::string> Session::authorization(const std::string& repository,
                                           const std::string& actions, io::CancelFlag cancel) {
  std::lock_guard lock(auth_mu_);
  if (!challenge_ || repository.empty()) return std::string();
  VMI_TRY(std::optional<Credential> cred, credentials(repository));
  if (challenge_->scheme == "basic") {
    if (!cred || cred->username.empty()) return std::string();
    return basic_authorization(cred->username, cred->password);
  }
  std::string scope = repository_scope(repository, actions);
  auto now = TokenCache::Clock::now();
  if (auto token = tokens_.get(scope, now)) return "Bearer " + *token;
  auto named = challenge_scopes_.find(scope);
  std::string ask = named != challenge_scopes_.end() ? named->second : scope;
  VMI_TRY(Token token, fetch_token(*challenge_, ask, cred, cancel));
  tokens_.put(scope, token, now);
  return "Bearer " + token.value;
}

Status Session::on_unauthorized(HttpTransfer& response, const std::string& repository,
                                const std::string& actions, const std::string& sent) {
  std::optional<Challenge> challenge = pick_challenge(response);
  std::string what = "registry " + config_.api_host;
  if (!challenge) {
    return Error(kKind, what + " answered 401 without a Bearer or Basic challenge");
  }
  std::lock_guard lock(auth_mu_);
  challenge_ = challenge;
  if (challenge->scheme == "bearer") {
    std::string ours = repository_scope(repository, actions);
    if (sent.rfind("Bearer ", 0) == 0) tokens_.invalidate(ours, sent.substr(7));
    std::string named = challenge->param("scope");
    if (!named.empty()) challenge_scopes_[ours] = named;
    return {};
  }
  VMI_TRY(std::optional<Credential> cred, credentials(repository));
  if (!cred || cred->username.empty()) {
    return Error(kKind, what + " requires authentication (Basic) and " + credential_origin(cred));
  }
  if (sent.rfind("Basic ", 0) == 0) {
    return Error(kKind, what + " rejected the " + credential_origin(cred));
  }
  return {};
}

Result<HttpRequest> Session::token_request(const Challenge& challenge, const std::string& scope,
                                           const std::optional<Credential>& cred) const {
  std::string realm = challenge.param("realm");
  UrlParts parts;
  if (realm.empty() || !split_url(realm, parts)) {
    return Error(kKind,
                 "registry " + config_.api_host + ": Bearer challenge without a valid realm");
  }
  if (parts.scheme == "http" && !plain_http_allowed(parts.host + ":" + parts.port)) {
    return Error(kKind, "refusing to request a token over plain HTTP from " + redact_url(realm));
  }
  std::string service = url_encode(challenge.param("service"));
  HttpRequest request;
  if (cred && !cred->identity_token.empty()) {
    // OAuth2 refresh-token grant (spec/auth/oauth.md).
    request.method = "POST";
    request.url = realm;
    request.headers.push_back("Content-Type: application/x-www-form-urlencoded");
    request.body = "grant_type=refresh_token&client_id=vmimage&service=" + service +
                   "&scope=" + url_encode(scope) +
                   "&refresh_token=" + url_encode(cred->identity_token);
    return request;
  }
  request.url = realm + (realm.find('?') == std::string::npos ? "?" : "&") + "service=" + service +
                (scope.empty() ? "" : "&scope=" + url_encode(scope));
  if (cred && !cred->username.empty()) {
    request.url += "&account=" + url_encode(cred->username);
    request.headers.push_back("Authorization: " +
                              basic_authorization(cred->username, cred->password));
  }
  return request;
}

Result<Token> Session::fetch_token(const Challenge& challenge, const std::string& scope,
                                   const std::optional<Credential>& cred, io::CancelFlag cancel) {
  VMI_TRY(HttpRequest request, token_request(challenge, scope, cred));
  RetryState retry(config_.retry, document_deadline(config_), cancel);
  std::string what = "token service " + redact_url(challenge.param("realm"));
  while (true) {
    HttpTransfer t(pool_, request, transport_for(request.url, retry.deadline(), cancel));
    Status started = t.start();
    if (!started) {
      if (t.failure() == Failure::kTransient && retry.next()) continue;
      return std::move(started).error().context(what);
    }
    int status = t.status();
    if (is_retryable_status(status) && retry.next(capped_retry_after(t, retry.policy()))) continue;
    if (status == 401 || status == 403) {
      return Error(kKind, what + " refused access to " + scope + " (" + status_text(status) +
                              "); " + credential_origin(cred));
    }
    if (status != 200) return Error(kKind, what + ": " + status_text(status));
    auto body = read_body(t, kMaxTokenBody);
    if (!body) {
      if (t.failure() == Failure::kTransient && retry.next()) continue;
      return std::move(body).error();
    }
    auto token = parse_token_response(*body);
    if (!token) return std::move(token).error().context(what);
    return token;
  }
}

}  // namespace vmimage::registry
