// libcurl multi interface, pulled: no thread of its own, no unbounded buffer.
#include "source/registry/http.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "io/cancel.h"
#include "source/registry/url.h"

namespace vmimage::registry {
namespace {

constexpr size_t kMaxIdleHandles = 16;
constexpr long kCurlBufferSize = 64 * 1024;

Failure classify(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
      return Failure::kTransient;
    case CURLE_SSL_CONNECT_ERROR:
      return Failure::kTlsHandshake;
    default:
      return Failure::kPermanent;
  }
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

std::string status_text(int status) {
  switch (status) {
    case 400:
      return "400 Bad Request";
    case 401:
      return "401 Unauthorized";
    case 403:
      return "403 Forbidden";
    case 404:
      return "404 Not Found";
    case 405:
      return "405 Method Not Allowed";
    case 416:
      return "416 Range Not Satisfiable";
    case 429:
      return "429 Too Many Requests";
    case 500:
      return "500 Internal Server Error";
    case 502:
      return "502 Bad Gateway";
    case 503:
      return "503 Service Unavailable";
    case 504:
      return "504 Gateway Timeout";
    default:
      return "HTTP status " + std::to_string(status);
  }
}

HttpPool::~HttpPool() {
  for (Handles& h : idle_) {
    curl_easy_cleanup(h.easy);
    curl_multi_cleanup(h.multi);
  }
}

HttpPool::Handles HttpPool::acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      Handles h = idle_.back();
      idle_.pop_back();
      return h;
    }
  }
  Handles h{curl_multi_init(), curl_easy_init()};
  if (!h.multi || !h.easy) {
    if (h.easy) curl_easy_cleanup(h.easy);
    if (h.multi) curl_multi_cleanup(h.multi);
    return {};
  }
  return h;
}

void HttpPool::release(Handles h) {
  curl_easy_reset(h.easy);
  std::lock_guard lock(mu_);
  if (idle_.size() < kMaxIdleHandles) {
    idle_.push_back(h);
    return;
  }
  curl_easy_cleanup(h.easy);
  curl_multi_cleanup(h.multi);
}

HttpTransfer::HttpTransfer(HttpPool& pool, HttpRequest request, const TransportOptions& options)
    : pool_(pool), request_(std::move(request)), options_(options) {}

HttpTransfer::~HttpTransfer() {
  if (h_.easy) {
    if (added_) curl_multi_remove_handle(h_.multi, h_.easy);
    pool_.release(h_);
  }
  curl_slist_free_all(header_list_);
}

void HttpTransfer::configure() {
  CURL* e = h_.easy;
  curl_easy_setopt(e, CURLOPT_URL, request_.url.c_str());
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);  // redirects are followed by the caller
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf_);
  curl_easy_setopt(e, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_BUFFERSIZE, kCurlBufferSize);
  if (!options_.ca_file.empty()) {
    // CAINFO replaces the bundle; the hashed system directory stays, so this adds CAs.
    curl_easy_setopt(e, CURLOPT_CAINFO, options_.ca_file.c_str());
    curl_easy_setopt(e, CURLOPT_CAPATH, "/etc/ssl/certs");
  }
  if (!options_.verify_tls) {
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  for (const std::string& h : request_.headers)
    header_list_ = curl_slist_append(header_list_, h.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, header_list_);
  if (request_.upload) {
    // Sent as it is read: upload progress counts as activity for the stall
    // and rate bounds (the server says nothing until the body is in).
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, &HttpTransfer::on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, this);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request_.upload->length));
    if (request_.method != "PUT") {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, request_.method.c_str());
    }
  } else if (request_.method == "HEAD") {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (request_.method == "POST" || request_.method == "PUT") {
    if (request_.method == "PUT") curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(request_.body.size()));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, request_.body.c_str());
  } else if (request_.method != "GET") {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, request_.method.c_str());
  }
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &HttpTransfer::on_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &HttpTransfer::on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, this);
}

Status HttpTransfer::start() {
  h_ = pool_.acquire();
  if (!h_.easy) {
    failure_ = Failure::kPermanent;
    return Error(ErrorKind::kPullImage, "cannot allocate a curl handle");
  }
  configure();
  if (curl_multi_add_handle(h_.multi, h_.easy) != CURLM_OK) {
    failure_ = Failure::kPermanent;
    return Error(ErrorKind::kPullImage, "cannot start a curl transfer");
  }
  added_ = true;
  begin_wait();
  while (!headers_done_ && !done_) VMI_CHECK(pump());
  // Once headers are in, a broken body surfaces from read(), after the bytes
  // that did arrive: a resume must know about them.
  if (headers_done_) return {};
  if (result_ != CURLE_OK) return transfer_error();
  failure_ = Failure::kTransient;
  return Error(ErrorKind::kPullImage,
               request_.method + " " + redact_url(request_.url) + ": no response");
}

Status HttpTransfer::pump() {
  size_t had = unread();
  bool had_headers = headers_done_;
  int running = 0;
  CURLMcode mc = curl_multi_perform(h_.multi, &running);
  if (mc != CURLM_OK) {
    failure_ = Failure::kPermanent;
    return Error(ErrorKind::kPullImage, std::string("curl: ") + curl_multi_strerror(mc));
  }
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(h_.multi, &left)) {
    if (msg->msg == CURLMSG_DONE && msg->easy_handle == h_.easy) {
      done_ = true;
      result_ = msg->data.result;
    }
  }
  auto now = std::chrono::steady_clock::now();
  window_waited_ += now - wait_mark_;
  wait_mark_ = now;
  if (io::is_cancelled(options_.cancel)) {
    abort_transfer("cancelled", Failure::kPermanent);
    cancelled_ = true;
  }
  if (done_ || check_deadline(now) || check_rate()) return {};
  if (unread() > had || headers_done_ != had_headers) return {};  // progress
  check_stall();
  if (done_) return {};
  curl_multi_poll(h_.multi, nullptr, 0, 250, nullptr);
  return {};
}

void HttpTransfer::begin_wait() {
  auto now = std::chrono::steady_clock::now();
  last_activity_ = now;  // the server gets a full stall window from here
  wait_mark_ = now;      // time spent before, with the transfer idle, is not waiting
}

void HttpTransfer::abort_transfer(std::string why, Failure failure) {
  if (added_) curl_multi_remove_handle(h_.multi, h_.easy);  // drops the connection
  added_ = false;
  done_ = true;
  result_ = CURLE_OPERATION_TIMEDOUT;
  aborted_ = std::move(why);
  abort_failure_ = failure;
}

bool HttpTransfer::check_deadline(std::chrono::steady_clock::time_point now) {
  if (!options_.deadline || now < *options_.deadline) return false;
  abort_transfer("no complete answer in time (limit document-timeout)", Failure::kPermanent);
  return true;
}

// A server sending a byte every few seconds never stalls; this bounds it: the
// bytes received while the reader waited, over at least rate_window of waiting.
bool HttpTransfer::check_rate() {
  if (options_.min_rate == 0 || window_waited_ < options_.rate_window) return false;
  auto waited_ms = std::chrono::duration_cast<std::chrono::milliseconds>(window_waited_).count();
  uint64_t wanted = options_.min_rate * static_cast<uint64_t>(waited_ms) / 1000;
  if (window_bytes_ >= wanted) {
    window_waited_ = {};
    window_bytes_ = 0;
    return false;
  }
  abort_transfer("too slow: " + std::to_string(window_bytes_) + " bytes in " +
                     std::to_string(waited_ms / 1000) + " s, less than " +
                     std::to_string(options_.min_rate) + " bytes/s (limit min-rate)",
                 Failure::kPermanent);
  return true;
}

// curl's LOW_SPEED check averages over a window of several seconds; this is
// exact: no byte for stall_timeout ends the transfer as a transient failure.
void HttpTransfer::check_stall() {
  if (std::chrono::steady_clock::now() - last_activity_ < options_.stall_timeout) return;
  abort_transfer("stalled: no data for " + std::to_string(options_.stall_timeout.count()) + " s",
                 Failure::kTransient);
}

Result<size_t> HttpTransfer::read(std::span<std::byte> buf) {
  if (unread() == 0) begin_wait();
  while (unread() == 0 && !done_) {
    if (paused_) {
      paused_ = false;
      curl_easy_pause(h_.easy, CURLPAUSE_CONT);  // may deliver buffered data right away
      continue;
    }
    VMI_CHECK(pump());
  }
  if (unread() == 0) {
    if (result_ != CURLE_OK) return transfer_error();
    return size_t{0};
  }
  size_t n = std::min(buf.size(), unread());
  std::memcpy(buf.data(), buf_.data() + pos_, n);
  pos_ += n;
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  return n;
}

size_t HttpTransfer::on_write(char* data, size_t size, size_t count, void* self) {
  auto* t = static_cast<HttpTransfer*>(self);
  size_t n = size * count;
  if (t->unread() > 0 && t->unread() + n > t->options_.buffer_limit) {
    t->paused_ = true;
    return CURL_WRITEFUNC_PAUSE;
  }
  if (t->pos_ > 0 && t->pos_ >= t->buf_.size() / 2) {  // compact rarely: O(1) amortized
    t->buf_.erase(t->buf_.begin(), t->buf_.begin() + static_cast<ptrdiff_t>(t->pos_));
    t->pos_ = 0;
  }
  t->last_activity_ = std::chrono::steady_clock::now();
  t->window_bytes_ += n;
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  t->buf_.insert(t->buf_.end(), bytes, bytes + n);
  t->max_buffered_ = std::max(t->max_buffered_, t->unread());
  return n;
}

size_t HttpTransfer::on_read(char* data, size_t size, size_t count, void* self) {
  auto* t = static_cast<HttpTransfer*>(self);
  const UploadBody& body = *t->request_.upload;
  size_t want = static_cast<size_t>(std::min<uint64_t>(size * count, body.length - t->uploaded_));
  if (want == 0) return 0;
  ssize_t got;
  do {
    got = ::pread(body.fd, data, want, static_cast<off_t>(body.offset + t->uploaded_));
  } while (got < 0 && errno == EINTR);
  if (got <= 0) {
    t->upload_error_ = got < 0 ? std::string(std::strerror(errno)) : "the file ended early";
    return CURL_READFUNC_ABORT;
  }
  if (body.observe) {
    body.observe(t->uploaded_, std::as_bytes(std::span(data, static_cast<size_t>(got))));
  }
  t->uploaded_ += static_cast<uint64_t>(got);
  t->last_activity_ = std::chrono::steady_clock::now();
  t->window_bytes_ += static_cast<uint64_t>(got);
  return static_cast<size_t>(got);
}

size_t HttpTransfer::on_header(char* data, size_t size, size_t count, void* self) {
  auto* t = static_cast<HttpTransfer*>(self);
  size_t n = size * count;
  t->last_activity_ = std::chrono::steady_clock::now();
  t->window_bytes_ += n;
  t->header_bytes_ += n;
  if (t->header_bytes_ > t->options_.max_header_bytes) {
    t->headers_too_large_ = true;
    return 0;  // curl ends the transfer with CURLE_WRITE_ERROR
  }
  std::string_view line = trim(std::string_view(data, n));
  if (line.rfind("HTTP/", 0) == 0) {
    // A new response (after 1xx): start over.
    t->headers_.clear();
    size_t sp = line.find(' ');
    t->status_ =
        sp == std::string_view::npos ? 0 : std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
  } else if (line.empty()) {
    if (t->status_ >= 200) t->headers_done_ = true;
  } else {
    size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      t->headers_.emplace_back(lower(trim(line.substr(0, colon))),
                               std::string(trim(line.substr(colon + 1))));
    }
  }
  return n;
}

bool HttpTransfer::body_framed() const {
  return !header("content-length").empty() ||
         lower(header("transfer-encoding")).find("chunked") != std::string::npos;
}

std::string HttpTransfer::header(std::string_view name) const {
  std::string key = lower(name);
  for (auto it = headers_.rbegin(); it != headers_.rend(); ++it) {
    if (it->first == key) return it->second;
  }
  return {};
}

std::vector<std::string> HttpTransfer::header_values(std::string_view name) const {
  std::string key = lower(name);
  std::vector<std::string> out;
  for (const auto& [k, v] : headers_) {
    if (k == key) out.push_back(v);
  }
  return out;
}

std::string HttpTransfer::redirect_url() const {
  char* url = nullptr;
  if (!h_.easy || curl_easy_getinfo(h_.easy, CURLINFO_REDIRECT_URL, &url) != CURLE_OK || !url) {
    return {};
  }
  return url;
}

Error HttpTransfer::transfer_error() {
  if (cancelled_) {
    failure_ = Failure::kPermanent;
    return io::cancelled_error();
  }
  failure_ = classify(result_);
  std::string detail = errbuf_[0] ? std::string(errbuf_) : curl_easy_strerror(result_);
  if (headers_too_large_) {
    failure_ = Failure::kPermanent;
    detail = "response headers larger than " + std::to_string(options_.max_header_bytes) + " bytes";
  }
  if (!aborted_.empty()) {
    failure_ = abort_failure_;
    detail = aborted_;
  }
  if (!upload_error_.empty()) {
    failure_ = Failure::kPermanent;
    detail = "reading the upload: " + upload_error_;
  }
  return Error(ErrorKind::kPullImage,
               request_.method + " " + redact_url(request_.url) + ": " + detail);
}

}  // namespace vmimage::registry
