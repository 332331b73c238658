// Registry authentication pieces (distribution spec/auth/token.md, oauth.md;
// RFC 9110 11.6.1): WWW-Authenticate challenge parsing, token responses, a
// token cache keyed by scope, and Basic credentials.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vmimage/result.h"

namespace vmimage::registry {

struct Challenge {
  std::string scheme;                         // lower case: "bearer", "basic"
  std::map<std::string, std::string> params;  // names lower case: realm, service, scope

  std::string param(const std::string& name) const;
};

// Parses one WWW-Authenticate value, which may hold several challenges
// ("Bearer realm=\"x\",service=\"y\", Basic realm=\"z\""). Errors are kPullImage.
Result<std::vector<Challenge>> parse_challenges(std::string_view value);

struct Token {
  std::string value;
  std::chrono::seconds expires_in{60};
};

// The token service's JSON answer: "token" (or "access_token") and "expires_in"
// (60 s when absent). Never quotes the body in errors: it holds the secret.
Result<Token> parse_token_response(std::string_view body);

// RFC 6750 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
bool is_b64token(std::string_view token);

// "repository:<path>:pull"
std::string pull_scope(std::string_view repository);
// "repository:<path>:<actions>", actions e.g. "pull,push"
std::string repository_scope(std::string_view repository, std::string_view actions);

// "Basic base64(user:password)"
std::string basic_authorization(std::string_view username, std::string_view password);

std::string base64_encode(std::string_view data);
std::optional<std::string> base64_decode(std::string_view data);

// Bearer tokens per scope, considered stale at 90% of their lifetime so they
// are renewed before the registry starts refusing them. Thread-safe.
class TokenCache {
 public:
  using Clock = std::chrono::steady_clock;

  std::optional<std::string> get(const std::string& scope, Clock::time_point now) const;
  void put(const std::string& scope, const Token& token, Clock::time_point now);
  // Drops the cached token for `scope` if it is still `value` (a 401 said it is bad).
  void invalidate(const std::string& scope, const std::string& value);

 private:
  struct Entry {
    std::string value;
    Clock::time_point stale_at;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;
};

}  // namespace vmimage::registry
