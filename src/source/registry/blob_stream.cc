// Blob download with Range resume (RFC 9110 14) or restart-and-skip.
#include "source/registry/blob_stream.h"

#include <cstring>

#include "source/registry/url.h"

namespace vmimage::registry {
namespace {

constexpr ErrorKind kKind = ErrorKind::kPullImage;
constexpr uint64_t kProgressStep = 256 * 1024;
constexpr size_t kMaxErrorBody = 64 * 1024;

// "bytes 100-199/200" -> 100; nullopt when malformed.
std::optional<uint64_t> content_range_start(std::string_view value) {
  if (value.rfind("bytes ", 0) != 0) return std::nullopt;
  value.remove_prefix(6);
  size_t dash = value.find('-');
  if (dash == 0 || dash == std::string_view::npos) return std::nullopt;
  uint64_t start = 0;
  for (char c : value.substr(0, dash)) {
    if (c < '0' || c > '9') return std::nullopt;
    start = start * 10 + static_cast<uint64_t>(c - '0');
  }
  return start;
}

}  // namespace

BlobStream::BlobStream(Session& session, std::string repository, oci::Digest digest, uint64_t size,
                       BlobStreamOptions options)
    : session_(session),
      digest_(std::move(digest)),
      size_(size),
      options_(options),
      retry_(session.config().retry, options.deadline, options.cancel) {
  spec_.path = "/v2/" + repository + "/blobs/" + digest_.str();
  spec_.repository = std::move(repository);
  spec_.cancel = options.cancel;
}

Status BlobStream::open() {
  return connect();
}

Status BlobStream::connect() {
  spec_.headers.clear();
  if (delivered_ > 0) spec_.headers.push_back("Range: bytes=" + std::to_string(delivered_) + "-");
  VMI_TRY(auto t, session_.open(spec_, retry_));
  int status = t->status();
  if (status == 200) {
    skip_ = delivered_;  // no Range support: the body starts over
  } else if (status == 206) {
    VMI_CHECK(accept_partial(*t));
    skip_ = 0;
  } else {
    auto body = read_body(*t, kMaxErrorBody);
    std::string summary = body ? registry_error_summary(*body) : "";
    return Error(kKind, "GET blob " + digest_.str() + " from " +
                            redact_url(session_.url_for(spec_.path)) + ": " + status_text(status) +
                            (summary.empty() ? "" : " (" + summary + ")"));
  }
  transfer_ = std::move(t);
  return {};
}

Status BlobStream::accept_partial(const HttpTransfer& t) {
  std::optional<uint64_t> start = content_range_start(t.header("content-range"));
  if (!start || *start != delivered_) {
    return Error(kKind, "blob " + digest_.str() + ": asked to resume at byte " +
                            std::to_string(delivered_) + ", server sent Content-Range \"" +
                            t.header("content-range") + "\"");
  }
  return {};
}

Status BlobStream::resume_after(Error cause) {
  transfer_.reset();
  VMI_CHECK(io::check_cancel(options_.cancel));
  if (++resumes_ > options_.max_resumes || !retry_.next()) {
    return std::move(cause).context("blob " + digest_.str() + ": giving up after " +
                                    std::to_string(resumes_) + " reconnections at byte " +
                                    std::to_string(delivered_));
  }
  return connect();
}

size_t BlobStream::drop_skipped(std::span<std::byte> buf, size_t n) {
  size_t drop = static_cast<size_t>(std::min<uint64_t>(n, skip_));
  skip_ -= drop;
  if (drop > 0 && drop < n) std::memmove(buf.data(), buf.data() + drop, n - drop);
  return n - drop;
}

Result<size_t> BlobStream::read(std::span<std::byte> buf) {
  if (buf.empty()) return size_t{0};
  while (true) {
    if (!transfer_) VMI_CHECK(connect());
    auto got = transfer_->read(buf);
    if (!got) {
      if (transfer_->failure() != Failure::kTransient) return std::move(got).error();
      VMI_CHECK(resume_after(std::move(got).error()));
      continue;
    }
    if (*got == 0) {
      // A complete response may still be short: the digest check reports that.
      if (delivered_ >= size_ || transfer_->body_framed()) return size_t{0};
      // A close-delimited body ending before the declared size: the connection was cut.
      VMI_CHECK(resume_after(Error(kKind, "connection closed after " + std::to_string(delivered_) +
                                              " of " + std::to_string(size_) + " bytes")));
      continue;
    }
    size_t n = drop_skipped(buf, *got);
    if (n == 0) continue;
    delivered_ += n;
    retry_.reset();  // progress: later failures start a fresh backoff
    report(delivered_);
    return n;
  }
}

void BlobStream::report(uint64_t done) {
  if (!options_.progress) return;
  if (done - reported_ < kProgressStep && done < size_) return;
  reported_ = done;
  LayerEvent e;
  e.kind = LayerEvent::Kind::kBytes;
  e.digest = digest_;
  e.index = options_.layer_index;
  e.done = done;
  e.total = size_;
  options_.progress->on_layer(e);
}

}  // namespace vmimage::registry
