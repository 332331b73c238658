// Retry policy for registry requests: exponential backoff with jitter on
// connection errors and 5xx, Retry-After on 429/503; bounded in count and time.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string_view>

namespace vmimage::registry {

struct RetryPolicy {
  int max_retries = 5;  // further attempts after the first
  std::chrono::milliseconds initial_backoff{250};
  std::chrono::milliseconds max_backoff{8000};
  // A Retry-After longer than this fails the request rather than waiting.
  std::chrono::milliseconds max_retry_after{60000};
};

// The delay before retry number `retry` (0-based): "equal jitter" — half of
// min(max, initial * 2^retry) fixed, the other half scaled by jitter in [0, 1].
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry, double jitter);

// Retry-After as delta-seconds or an HTTP-date (RFC 9110 10.2.3); nullopt when
// absent or unparseable. `now` is the time to measure an HTTP-date from.
std::optional<std::chrono::milliseconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now);

// Statuses worth another attempt: 408, 429, 500, 502, 503, 504.
bool is_retryable_status(int status);

// Counts failed attempts of one operation and sleeps between them.
class RetryState {
 public:
  using Deadline = std::optional<std::chrono::steady_clock::time_point>;
  // With a deadline, no attempt starts (and no sleep ends) after it.
  // With a cancel flag, sleeps end (and no attempt starts) once it is set.
  explicit RetryState(const RetryPolicy& policy, Deadline deadline = std::nullopt,
                      const std::atomic<bool>* cancel = nullptr)
      : policy_(policy), deadline_(deadline), cancel_(cancel) {}
  // Whether another attempt may be made; if so, first sleeps `wait` (when
  // given, e.g. from Retry-After) or the backoff delay.
  bool next(std::optional<std::chrono::milliseconds> wait = std::nullopt);
  const Deadline& deadline() const { return deadline_; }
  // Whether the last next() said no because the deadline would pass.
  bool out_of_time() const { return out_of_time_; }
  const std::atomic<bool>* cancel() const { return cancel_; }
  bool cancelled() const { return cancel_ != nullptr && cancel_->load(); }
  // Forgets earlier failures (after progress was made).
  void reset() { failures_ = 0; }
  int failures() const { return failures_; }
  const RetryPolicy& policy() const { return policy_; }

 private:
  RetryPolicy policy_;
  Deadline deadline_;
  const std::atomic<bool>* cancel_;
  bool out_of_time_ = false;
  int failures_ = 0;
};

}  // namespace vmimage::registry
