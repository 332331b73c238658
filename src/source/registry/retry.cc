// Backoff schedule and Retry-After parsing.
#include "source/registry/retry.h"

#include <algorithm>
#include <ctime>
#include <random>
#include <string>
#include <thread>

namespace vmimage::registry {
namespace {

// Any wait this long is refused by max_retry_after anyway; the cap keeps the
// arithmetic in range.
constexpr int64_t kLongestRetryAfterSeconds = 999999999;

}  // namespace

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, double jitter) {
  int64_t base = policy.initial_backoff.count();
  int64_t cap = policy.max_backoff.count();
  for (int i = 0; i < retry && base < cap; ++i) base *= 2;
  base = std::min(base, cap);
  jitter = std::clamp(jitter, 0.0, 1.0);
  int64_t fixed = base / 2;  // whole milliseconds: the other half is jittered
  return std::chrono::milliseconds(fixed +
                                   static_cast<int64_t>(jitter * static_cast<double>(base - fixed)));
}

std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return std::chrono::milliseconds(kLongestRetryAfterSeconds * 1000);
    return std::chrono::milliseconds(std::stoll(std::string(value)) * 1000);
  }
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
  std::tm tm{};
  std::string text(value);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  // In whole seconds: a date centuries ahead overflows a nanosecond time_point.
  int64_t when = timegm(&tm);
  int64_t now_seconds = std::chrono::system_clock::to_time_t(now);
  if (when <= now_seconds) return std::chrono::milliseconds(0);
  int64_t wait = std::min<int64_t>(when - now_seconds, kLongestRetryAfterSeconds);
  return std::chrono::milliseconds(wait * 1000);
}

bool is_retryable_status(int status) {
  return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 ||
         status == 504;
}

bool RetryState::next(std::optional<std::chrono::milliseconds> wait) {
  if (failures_ >= policy_.max_retries) return false;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(0.0, 1.0);
  std::chrono::milliseconds delay = wait ? *wait : backoff_delay(policy_, failures_, jitter(rng));
  if (deadline_ && std::chrono::steady_clock::now() + delay >= *deadline_) {
    out_of_time_ = true;
    return false;
  }
  ++failures_;
  // In slices, so that a cancellation does not wait out a long backoff.
  auto until = std::chrono::steady_clock::now() + delay;
  while (std::chrono::steady_clock::now() < until) {
    if (cancelled()) return false;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(until - std::chrono::steady_clock::now(),
                                                      std::chrono::milliseconds(100)));
  }
  return !cancelled();
}

}  // namespace vmimage::registry
