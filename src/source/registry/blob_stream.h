// The raw bytes of one blob (GET /v2/<name>/blobs/<digest>) as a stream that
// survives broken connections: it resumes with a Range request where the
// server honours one, else restarts and skips what was already delivered, so
// the consumer sees each byte exactly once. Digest checks sit on top of it.
#pragma once

#include <memory>
#include <string>

#include "io/reader.h"
#include "oci/digest.h"
#include "source/registry/progress.h"
#include "source/registry/retry.h"
#include "source/registry/session.h"

namespace vmimage::registry {

struct BlobStreamOptions {
  int max_resumes = 20;  // reconnections after progress, in total
  ProgressSink* progress = nullptr;
  int layer_index = -1;  // for progress events
  // For small blobs (an image config): the whole download, retries included.
  RetryState::Deadline deadline;
  io::CancelFlag cancel = nullptr;
};

class BlobStream : public io::Reader {
 public:
  BlobStream(Session& session, std::string repository, oci::Digest digest, uint64_t size,
             BlobStreamOptions options);
  // Sends the first request: a missing blob or refused access fails here.
  Status open();
  Result<size_t> read(std::span<std::byte> buf) override;

  uint64_t delivered() const { return delivered_; }
  int resumes() const { return resumes_; }

 private:
  Status connect();
  Status resume_after(Error cause);
  Status accept_partial(const HttpTransfer& t);
  size_t drop_skipped(std::span<std::byte> buf, size_t n);
  void report(uint64_t done);

  Session& session_;
  RequestSpec spec_;
  oci::Digest digest_;
  uint64_t size_;
  BlobStreamOptions options_;
  RetryState retry_;
  std::unique_ptr<HttpTransfer> transfer_;
  uint64_t delivered_ = 0;  // bytes handed to the consumer
  uint64_t skip_ = 0;       // bytes of a restarted response the consumer already has
  uint64_t reported_ = 0;
  int resumes_ = 0;
};

}  // namespace vmimage::registry
