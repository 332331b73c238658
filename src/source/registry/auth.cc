// Challenge grammar (RFC 9110 11.6.1):
//   challenge = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
//   auth-param = token BWS "=" BWS ( token / quoted-string )
#include "source/registry/auth.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>

#include "oci/json_util.h"

namespace vmimage::registry {
namespace {

// Tokens are reused for at most a day, whatever expires_in says (a huge value
// would also overflow the cache's clock arithmetic).
constexpr int64_t kMaxTokenLife = 24 * 3600;

bool is_tchar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

class ChallengeLexer {
 public:
  explicit ChallengeLexer(std::string_view s) : s_(s) {}

  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  void skip_space_and_commas() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == ',')) ++pos_;
  }
  bool done() const { return pos_ >= s_.size(); }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  size_t pos() const { return pos_; }
  void seek(size_t pos) { pos_ = pos; }
  void advance() { ++pos_; }

  std::string token() {
    size_t start = pos_;
    while (pos_ < s_.size() && is_tchar(s_[pos_])) ++pos_;
    return std::string(s_.substr(start, pos_ - start));
  }

  // A quoted-string with backslash escapes; false when unterminated.
  bool quoted(std::string& out) {
    ++pos_;  // opening quote
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return true;
      if (c == '\\' && pos_ < s_.size()) c = s_[pos_++];
      out += c;
    }
    return false;
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

Error challenge_error(std::string_view value, std::string_view problem) {
  // Challenges carry no secrets; quoting the header helps diagnose odd registries.
  return Error(ErrorKind::kPullImage, "malformed WWW-Authenticate header \"" + std::string(value) +
                                          "\": " + std::string(problem));
}

// Reads "name=value" pairs into `c` until the next challenge starts.
Status parse_params(ChallengeLexer& lex, std::string_view value, Challenge& c) {
  while (true) {
    lex.skip_space_and_commas();
    if (lex.done()) return {};
    size_t mark = lex.pos();
    std::string name = lex.token();
    if (name.empty()) return challenge_error(value, "expected a parameter name");
    lex.skip_space();
    if (lex.peek() != '=') {  // a new scheme begins
      lex.seek(mark);
      return {};
    }
    lex.advance();
    lex.skip_space();
    std::string v;
    if (lex.peek() == '"') {
      if (!lex.quoted(v)) return challenge_error(value, "unterminated quoted string");
    } else {
      v = lex.token();
    }
    c.params[lower(name)] = v;
  }
}

}  // namespace

std::string Challenge::param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? std::string() : it->second;
}

Result<std::vector<Challenge>> parse_challenges(std::string_view value) {
  std::vector<Challenge> out;
  ChallengeLexer lex(value);
  while (true) {
    lex.skip_space_and_commas();
    if (lex.done()) break;
    Challenge c;
    c.scheme = lower(lex.token());
    if (c.scheme.empty()) return challenge_error(value, "expected an auth scheme");
    VMI_CHECK(parse_params(lex, value, c));
    out.push_back(std::move(c));
  }
  if (out.empty()) return challenge_error(value, "no challenge");
  return out;
}

Result<Token> parse_token_response(std::string_view body) {
  auto doc = oci::json::parse_object(body, "token response", ErrorKind::kPullImage);
  if (!doc) return Error(ErrorKind::kPullImage, "token service answered with a non-JSON body");
  oci::json::Fields f(*doc, "", ErrorKind::kPullImage);
  Token t;
  auto token = f.optional_string("token");
  auto access = f.optional_string("access_token");
  if (!token || !access) return Error(ErrorKind::kPullImage, "token response: token not a string");
  t.value = !token->empty() ? *token : *access;
  if (t.value.empty()) return Error(ErrorKind::kPullImage, "token response holds no token");
  // The token goes into an Authorization header: only its grammar may pass,
  // never a CR/LF that would add headers of the server's choosing.
  if (!is_b64token(t.value)) {
    return Error(ErrorKind::kPullImage,
                 "token response: the token is not an RFC 6750 b64token (it holds characters "
                 "other than letters, digits and -._~+/ with trailing =)");
  }
  if (f.has("expires_in")) {
    VMI_TRY(int64_t seconds, f.integer("expires_in"));
    if (seconds > 0) t.expires_in = std::chrono::seconds(std::min<int64_t>(seconds, kMaxTokenLife));
  }
  return t;
}

bool is_b64token(std::string_view token) {
  size_t i = 0;
  while (i < token.size() && (std::isalnum(static_cast<unsigned char>(token[i])) ||
                              std::string_view("-._~+/").find(token[i]) != std::string_view::npos)) {
    ++i;
  }
  if (i == 0) return false;
  while (i < token.size() && token[i] == '=') ++i;
  return i == token.size();
}

std::string pull_scope(std::string_view repository) { return repository_scope(repository, "pull"); }

std::string repository_scope(std::string_view repository, std::string_view actions) {
  return "repository:" + std::string(repository) + ":" + std::string(actions);
}

std::string basic_authorization(std::string_view username, std::string_view password) {
  std::string pair = std::string(username) + ":" + std::string(password);
  return "Basic " + base64_encode(pair);
}

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> base64_decode(std::string_view data) {
  std::string in(data);
  while (!in.empty() && (in.back() == '\n' || in.back() == ' ')) in.pop_back();
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out(3 * (in.size() / 4) + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  size_t len = static_cast<size_t>(n);
  // EVP_DecodeBlock counts padding as zero bytes; drop them.
  if (!in.empty() && in.back() == '=') --len;
  if (in.size() >= 2 && in[in.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

std::optional<std::string> TokenCache::get(const std::string& scope, Clock::time_point now) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(scope);
  if (it == entries_.end() || now >= it->second.stale_at) return std::nullopt;
  return it->second.value;
}

void TokenCache::put(const std::string& scope, const Token& token, Clock::time_point now) {
  auto life = std::chrono::duration_cast<Clock::duration>(token.expires_in) * 9 / 10;
  std::lock_guard lock(mu_);
  entries_[scope] = Entry{token.value, now + life};
}

void TokenCache::invalidate(const std::string& scope, const std::string& value) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(scope);
  if (it != entries_.end() && it->second.value == value) entries_.erase(it);
}

}  // namespace vmimage::registry
