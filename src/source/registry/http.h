// One HTTP exchange over libcurl, read as a stream: curl's multi interface is
// driven from read() on the caller's thread, and the write callback pauses the
// transfer once `buffer_limit` bytes wait unread, so memory stays bounded
// however large the body. Handles come from a pool so connections are reused.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <functional>
#include <span>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/reader.h"
#include "vmimage/result.h"

namespace vmimage::registry {

// A request body read from a file as it is sent (a blob upload): `length`
// bytes from `offset` of `fd`, read again from the start on each attempt.
struct UploadBody {
  int fd = -1;
  uint64_t offset = 0;
  uint64_t length = 0;
  // Sees each piece read, with its position in the body (from 0 again when a
  // request is sent again).
  std::function<void(uint64_t position, std::span<const std::byte> bytes)> observe;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // sent for POST and PUT
  std::optional<UploadBody> upload;  // sent instead of `body` (PUT, PATCH)
};

struct TransportOptions {
  std::string ca_file;  // extra CAs (PEM) besides the system's
  bool verify_tls = true;
  std::chrono::milliseconds connect_timeout{30000};
  std::chrono::seconds stall_timeout{30};  // no byte for this long aborts the transfer
  // Bytes per second the server must average while the reader waits, measured
  // over rate_window (a trickle of a byte every few seconds is no progress); 0: off.
  uint64_t min_rate = 1024;
  std::chrono::seconds rate_window{30};
  // When set, the transfer fails once this moment passes (a document's deadline).
  std::optional<std::chrono::steady_clock::time_point> deadline;
  size_t max_header_bytes = 256 * 1024;  // all response headers together
  io::CancelFlag cancel = nullptr;       // checked while waiting: a set flag ends the transfer
  std::string user_agent = "vmimage";
  size_t buffer_limit = 512 * 1024;
};

// How a failed transfer should be treated by the retry logic.
enum class Failure {
  kNone,
  kTransient,     // connection refused/reset, stall, truncated body: retry
  kTlsHandshake,  // TLS did not start (e.g. a plain-HTTP server): maybe fall back to http
  kPermanent,     // certificate rejected, bad URL, unresolvable host, too slow, too
                  // late, headers too large: do not retry
};

// Pooled multi+easy handle pairs; a multi keeps its connection cache, so a
// pair reused for the next request to the same host reuses the connection.
class HttpPool {
 public:
  struct Handles {
    CURLM* multi = nullptr;
    CURL* easy = nullptr;
  };
  HttpPool() = default;
  ~HttpPool();
  HttpPool(const HttpPool&) = delete;
  HttpPool& operator=(const HttpPool&) = delete;

  Handles acquire();  // both null when curl cannot allocate
  void release(Handles h);

 private:
  std::mutex mu_;
  std::vector<Handles> idle_;
};

class HttpTransfer : public io::Reader {
 public:
  HttpTransfer(HttpPool& pool, HttpRequest request, const TransportOptions& options);
  ~HttpTransfer() override;
  HttpTransfer(const HttpTransfer&) = delete;
  HttpTransfer& operator=(const HttpTransfer&) = delete;

  // Sends the request and runs until the final response's headers are in.
  // On error, failure() tells whether a retry makes sense.
  Status start();
  Failure failure() const { return failure_; }

  int status() const { return status_; }
  // The last value of a header (name case-insensitive), "" when absent.
  std::string header(std::string_view name) const;
  std::vector<std::string> header_values(std::string_view name) const;
  // Whether the body's end is marked (Content-Length or chunked): then a clean
  // end of the body is its real end, not a connection closed early.
  bool body_framed() const;
  // The absolute target of a 3xx answer's Location, "" when none.
  std::string redirect_url() const;
  const HttpRequest& request() const { return request_; }

  // The response body; 0 at its end. A broken transfer is an error with failure() set.
  Result<size_t> read(std::span<std::byte> buf) override;

  // The most body bytes ever held unread (for tests of the memory bound).
  size_t max_buffered() const { return max_buffered_; }

 private:
  static size_t on_write(char* data, size_t size, size_t count, void* self);
  static size_t on_read(char* data, size_t size, size_t count, void* self);
  static size_t on_header(char* data, size_t size, size_t count, void* self);
  void configure();
  Status pump();
  // Each ends the transfer (as if it failed) and returns true when its bound is passed.
  bool check_deadline(std::chrono::steady_clock::time_point now);
  bool check_rate();
  void check_stall();
  void abort_transfer(std::string why, Failure failure);
  void begin_wait();
  Error transfer_error();
  size_t unread() const { return buf_.size() - pos_; }

  HttpPool& pool_;
  HttpRequest request_;
  TransportOptions options_;
  HttpPool::Handles h_;
  curl_slist* header_list_ = nullptr;
  char errbuf_[CURL_ERROR_SIZE] = {};
  bool added_ = false;

  int status_ = 0;
  std::vector<std::pair<std::string, std::string>> headers_;
  bool headers_done_ = false;
  bool done_ = false;
  CURLcode result_ = CURLE_OK;
  Failure failure_ = Failure::kNone;

  std::vector<std::byte> buf_;
  size_t pos_ = 0;
  bool paused_ = false;
  size_t max_buffered_ = 0;
  // A stall is no byte (or header) for stall_timeout while the reader waits:
  // time the consumer spends elsewhere, with the transfer idle, does not count.
  std::chrono::steady_clock::time_point last_activity_;
  // The rate is measured over waiting time only, too: window_waited_ of it so
  // far in this window, window_bytes_ received meanwhile.
  std::chrono::steady_clock::time_point wait_mark_;
  std::chrono::steady_clock::duration window_waited_{};
  uint64_t window_bytes_ = 0;
  size_t header_bytes_ = 0;
  bool headers_too_large_ = false;
  std::string aborted_;  // why the transfer was ended here, if it was
  Failure abort_failure_ = Failure::kNone;
  bool cancelled_ = false;
  uint64_t uploaded_ = 0;  // bytes of request_.upload sent
  std::string upload_error_;
};

// A short description of an HTTP status for messages: "404 Not Found".
std::string status_text(int status);

}  // namespace vmimage::registry
