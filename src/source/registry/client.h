// The OCI-distribution client: resolves a reference to one image manifest for a
// platform, with its config, and opens its blobs as verified streams.
// Thread-safe: layers of one image may be read in parallel, one thread each.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/reader.h"
#include "oci/digest.h"
#include "oci/image_config.h"
#include "oci/manifest.h"
#include "oci/media_types.h"
#include "oci/platform.h"
#include "oci/reference.h"
#include "source/registry/credentials.h"
#include "source/registry/progress.h"
#include "source/registry/retry.h"
#include "vmimage/limits.h"
#include "vmimage/version.h"

namespace vmimage::registry {

struct RequestSpec;

struct ClientOptions {
  // HOST[:PORT] reachable over plain HTTP and with unchecked certificates.
  // Loopback registries may use plain HTTP without being listed (their TLS is still checked).
  std::vector<std::string> insecure_registries;
  std::string ca_file;  // extra CA certificates (PEM); else $SSL_CERT_FILE; system CAs stay
  RetryPolicy retry;
  // Document sizes, JSON depth, layer count, stalls, minimum rate, document
  // deadlines and redirects (vmimage/limits.h).
  Limits limits;
  std::chrono::milliseconds connect_timeout{30000};
  int max_resumes = 20;  // of a blob download, and of a blob upload
  // A blob larger than this is uploaded in PATCH chunks of this size, each
  // resumable (Client::send_chunks).
  uint64_t upload_chunk = uint64_t{64} << 20;
  size_t stream_buffer = 512 * 1024;  // bytes buffered between curl and a blob reader
  std::string user_agent = std::string("vmimage/") + std::string(version());
  // Where credentials come from; unset means the Docker/containers auth files
  // of the environment (see credentials.h).
  std::function<Result<std::optional<Credential>>(std::string_view domain,
                                                  std::string_view repository)>
      credentials;
};

struct Layer {
  oci::Descriptor descriptor;  // compressed blob
  oci::Digest diff_id;         // sha256 of the uncompressed tar (or raw EROFS image)
  oci::LayerType type;         // from the descriptor's media type
};

struct ResolvedImage {
  oci::Reference reference;
  oci::Digest digest;                       // the image manifest's digest: the image's identity
  std::optional<oci::Digest> index_digest;  // the index it was chosen from, if any
  std::string manifest_media_type;
  std::string manifest_bytes;
  oci::Manifest manifest;
  oci::Platform platform;
  std::string config_bytes;
  oci::ImageConfig config;
  std::vector<Layer> layers;
};

// Bytes of a blob sent so far (a body sent again counts from 0 again).
using UploadProgress = std::function<void(uint64_t sent)>;

// Where a chunked upload goes on from an earlier process's attempt, and where
// this one is noted as it goes (Client::send_chunks).
struct UploadJournal {
  std::string resume_url;  // a session a push left part way; "" for none
  // Given the session's URL after each chunk the registry took, and "" once
  // the blob is complete or the earlier session turned out to be gone.
  std::function<Status(const std::string& url)> note;
  // Given a digest learned on the way once every byte is hashed, before the
  // blob is committed: a push stopped then still knows it next time (and
  // asks the registry before sending the blob again).
  std::function<Status(const oci::Digest& digest)> hashed;
};

struct FetchedDocument {
  oci::Digest digest;  // of the bytes as served
  std::string bytes;
  std::string content_type;
};

class Client {
 public:
  static Result<std::unique_ptr<Client>> create(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Fetches the manifest (choosing from an index by `platform`), verifies it
  // against the reference's digest when there is one, and fetches the config.
  // Sends kResolved events for the layers when `progress` is set.
  Result<ResolvedImage> resolve(const oci::Reference& ref, const oci::Platform& platform,
                                ProgressSink* progress = nullptr, io::CancelFlag cancel = nullptr);

  // The blob's bytes, checked against the descriptor's digest and size when
  // the stream ends (a mismatch is a kImageDigest error from the last read).
  Result<std::unique_ptr<io::Reader>> open_blob(const oci::Reference& repo,
                                                const oci::Descriptor& blob,
                                                ProgressSink* progress = nullptr,
                                                int layer_index = -1,
                                                io::CancelFlag cancel = nullptr);

  // A manifest or index by the reference's tag or digest (checked), as served;
  // nullopt when the registry has none (404).
  Result<std::optional<FetchedDocument>> fetch_document(const oci::Reference& ref,
                                                        io::CancelFlag cancel = nullptr);
  // The index of the manifests whose subject is `subject` in the repository of
  // `repo`, filtered by `artifact_type` (distribution spec 1.1, "Listing
  // Referrers"); nullopt when the registry has no referrers API (404).
  Result<std::optional<std::string>> referrers(const oci::Reference& repo,
                                               const oci::Digest& subject,
                                               std::string_view artifact_type,
                                               io::CancelFlag cancel = nullptr);

  // Pushing (distribution spec, "Pushing blobs" and "Pushing manifests").
  // Whether the repository of `repo` has the blob.
  Result<bool> has_blob(const oci::Reference& repo, const oci::Digest& digest,
                        io::CancelFlag cancel = nullptr);
  // Asks the registry to link blob `digest` of repository `from` (a path on
  // the same registry) into `repo` ("Mounting a blob from another
  // repository"); true when it did (201). A registry that will not (202, an
  // upload session it then expires) or cannot gives false: upload instead.
  Result<bool> mount_blob(const oci::Reference& repo, const oci::Digest& digest,
                          const std::string& from, io::CancelFlag cancel = nullptr);
  // Uploads the first `size` bytes of `fd` as blob `digest`. Up to
  // ClientOptions::upload_chunk bytes: POST, then one PUT that streams the file
  // (the registry checks the digest); a failed upload starts over, within the
  // retry policy. Larger blobs go in chunks (send_chunks).
  Status upload_blob(const oci::Reference& repo, const oci::Digest& digest, int fd, uint64_t size,
                     io::CancelFlag cancel = nullptr, const UploadProgress& progress = {},
                     const UploadJournal* journal = nullptr);
  // The same for a blob whose digest is learned on the way, in one read of
  // the file: sent in chunks (send_chunks) while hashing it. Returns the digest.
  Result<oci::Digest> upload_blob_hashing(const oci::Reference& repo, int fd, uint64_t size,
                                          io::CancelFlag cancel = nullptr,
                                          const UploadProgress& progress = {},
                                          const UploadJournal* journal = nullptr);
  // The same for a small blob held in memory (a config).
  Status upload_blob(const oci::Reference& repo, const oci::Digest& digest,
                     const std::string& bytes, io::CancelFlag cancel = nullptr);
  // Stores a manifest (or index) under the reference's tag, or its digest.
  Status put_manifest(const oci::Reference& ref, const std::string& media_type,
                      const std::string& bytes, io::CancelFlag cancel = nullptr);

  // Whether the registry of `domain` ("docker.io", "host:5000") accepts
  // `credential` (docker login's check).
  Status check_login(std::string_view domain, const Credential& credential,
                     io::CancelFlag cancel = nullptr);

  // A layer's uncompressed tar (or raw EROFS image), its blob digest and its
  // DiffID checked at the end.
  Result<std::unique_ptr<io::Reader>> open_layer(const oci::Reference& repo, const Layer& layer,
                                                 ProgressSink* progress = nullptr,
                                                 int layer_index = -1,
                                                 io::CancelFlag cancel = nullptr);

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  Status upload(const oci::Reference& repo, const oci::Digest& digest,
                const std::function<void(RequestSpec&)>& set_body, io::CancelFlag cancel);
  // POST, a PATCH per upload_chunk bytes (Content-Range), then PUT ?digest=
  // (the registry checks it). A chunk that fails resumes where the registry
  // says the upload stands (GET of the upload's URL), re-reading only what it
  // lost; when it cannot say, the upload starts over. At most max_resumes
  // resumes; failures in a row within the retry policy. `known`: the digest,
  // else hashed as the bytes are sent. With a journal, an earlier process's
  // session goes on where the registry says it stands (the part it holds read
  // again only to hash it), and this one is noted after each chunk. Returns
  // the digest.
  Result<oci::Digest> send_chunks(const oci::Reference& repo, int fd, uint64_t size,
                                  const std::optional<oci::Digest>& known, io::CancelFlag cancel,
                                  const UploadProgress& progress, const UploadJournal* journal);
  // POST: an upload session's URL, on the registry's own origin.
  Result<std::string> begin_upload(const oci::Reference& repo, const std::string& what,
                                   io::CancelFlag cancel);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vmimage::registry
