// Image resolution (distribution spec "Pulling manifests", image-spec
// image-index.md) and verified blob streams.
#include "source/registry/client.h"

#include <curl/curl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <map>
#include <mutex>

#include "io/sha256.h"
#include "oci/layer.h"
#include "oci/media_types.h"
#include "source/registry/blob_stream.h"
#include "source/registry/http.h"
#include "source/registry/session.h"
#include "source/registry/url.h"

namespace vmimage::registry {
namespace {

constexpr ErrorKind kKind = ErrorKind::kPullImage;
constexpr int kMaxIndexDepth = 2;

struct Document {
  std::string bytes;
  std::string content_type;
  oci::Digest digest;
  oci::DocumentKind kind = oci::DocumentKind::kManifest;
};

// Emits kDone when the verified stream ends and kFailed when it breaks.
class ProgressReader : public io::Reader {
 public:
  ProgressReader(std::unique_ptr<io::Reader> inner, ProgressSink* sink, LayerEvent base)
      : inner_(std::move(inner)), sink_(sink), base_(std::move(base)) {}
  Result<size_t> read(std::span<std::byte> buf) override {
    auto n = inner_->read(buf);
    if (finished_ || !sink_ || (n.ok() && *n > 0)) return n;
    finished_ = true;
    LayerEvent e = base_;
    e.kind = n.ok() ? LayerEvent::Kind::kDone : LayerEvent::Kind::kFailed;
    e.done = n.ok() ? e.total : 0;
    if (!n.ok()) e.message = n.error().message();
    sink_->on_layer(e);
    return n;
  }

 private:
  std::unique_ptr<io::Reader> inner_;
  ProgressSink* sink_;
  LayerEvent base_;
  bool finished_ = false;
};

Error digest_mismatch(const std::string& what, const oci::Digest& want, const oci::Digest& got) {
  return Error(ErrorKind::kImageDigest,
               what + ": digest mismatch: expected " + want.str() + ", got " + got.str());
}

Status check_image_types(const oci::Manifest& m, const std::string& name) {
  if (!oci::is_config_media_type(m.config.media_type)) {
    return Error(kKind, name + " is not a container image (config media type \"" +
                            m.config.media_type + "\")");
  }
  for (size_t i = 0; i < m.layers.size(); ++i) {
    auto type = oci::layer_type(m.layers[i].media_type);
    if (!type) return std::move(type).error().context(name + ": layer " + std::to_string(i));
    if (type->format != oci::layer_type(m.layers[0].media_type)->format) {
      return Error(kKind, name + " mixes tar layers and EROFS layers (layer " + std::to_string(i) +
                              " is \"" + m.layers[i].media_type + "\"): no runtime stacks those");
    }
  }
  return {};
}

}  // namespace

struct Client::Impl {
  ClientOptions options;
  HttpPool pool;
  CredentialEnv credential_env;
  std::mutex mu;
  std::map<std::string, std::unique_ptr<Session>> sessions;

  Session& session_for(const oci::Reference& ref);
  Result<Document> fetch_manifest(Session& s, const oci::Reference& ref, const std::string& id,
                                  io::CancelFlag cancel);
  Result<Document> follow_index(Session& s, const oci::Reference& ref, Document doc,
                                const oci::Platform& want, ResolvedImage& out,
                                io::CancelFlag cancel);
  Result<std::unique_ptr<BlobStream>> open_stream(const oci::Reference& repo,
                                                  const oci::Descriptor& blob,
                                                  ProgressSink* progress, int index,
                                                  RetryState::Deadline deadline,
                                                  io::CancelFlag cancel);
  Status load_config(const oci::Reference& ref, const oci::Platform& want, ResolvedImage& out,
                     io::CancelFlag cancel);
};

Session& Client::Impl::session_for(const oci::Reference& ref) {
  std::string host = ref.api_host();
  std::lock_guard lock(mu);
  auto& slot = sessions[host];
  if (!slot) {
    SessionConfig config;
    config.domain = ref.domain;
    config.api_host = host;
    config.insecure_registries = options.insecure_registries;
    // Naming docker.io insecure covers its API host too.
    if (host_listed(ref.domain, options.insecure_registries)) {
      config.insecure_registries.push_back(host);
    }
    config.transport.ca_file = options.ca_file;
    config.transport.connect_timeout = options.connect_timeout;
    config.transport.stall_timeout = options.limits.stall_timeout;
    config.transport.min_rate = options.limits.min_rate;
    config.transport.rate_window = options.limits.rate_window;
    config.document_timeout = options.limits.document_timeout;
    config.max_redirects = static_cast<int>(std::min<uint64_t>(options.limits.max_redirects, 100));
    config.transport.user_agent = options.user_agent;
    config.transport.buffer_limit = options.stream_buffer;
    config.retry = options.retry;
    config.retry.max_retries =
        static_cast<int>(std::min<uint64_t>(options.limits.max_retries, 100));
    config.credentials = options.credentials;
    if (!config.credentials) {
      CredentialEnv env = credential_env;
      config.credentials = [env](std::string_view domain, std::string_view repository) {
        return lookup_credentials(domain, repository, env);
      };
    }
    slot = std::make_unique<Session>(pool, std::move(config));
  }
  return *slot;
}

Result<Document> Client::Impl::fetch_manifest(Session& s, const oci::Reference& ref,
                                              const std::string& id, io::CancelFlag cancel) {
  RequestSpec spec;
  spec.cancel = cancel;
  spec.path = "/v2/" + ref.path + "/manifests/" + id;
  spec.repository = ref.path;
  spec.headers.push_back("Accept: " + std::string(oci::kManifestAccept));
  std::string what = "manifest " + ref.name() + (id.rfind("sha256:", 0) == 0 ? "@" : ":") + id;
  VMI_TRY(Response r, s.fetch(spec, options.limits.max_manifest_bytes));
  if (r.status == 404) {
    std::string summary = registry_error_summary(r.body);
    return Error(ErrorKind::kImageNotFound,
                 what + " not found" + (summary.empty() ? "" : " (" + summary + ")"));
  }
  if (r.status != 200) {
    std::string summary = registry_error_summary(r.body);
    return Error(
        kKind, what + ": " + status_text(r.status) + (summary.empty() ? "" : " (" + summary + ")"));
  }
  Document doc;
  doc.digest = oci::Digest::of(r.body);
  auto kind = oci::classify_manifest(r.content_type, r.body);
  if (!kind) return std::move(kind).error().context(what);
  doc.kind = *kind;
  doc.bytes = std::move(r.body);
  doc.content_type = std::move(r.content_type);
  return doc;
}

Result<Document> Client::Impl::follow_index(Session& s, const oci::Reference& ref, Document doc,
                                            const oci::Platform& want, ResolvedImage& out,
                                            io::CancelFlag cancel) {
  for (int depth = 0; doc.kind == oci::DocumentKind::kIndex; ++depth) {
    if (depth == kMaxIndexDepth) return Error(kKind, ref.str() + ": indexes nested too deeply");
    auto index = oci::parse_index(doc.bytes, doc.content_type);
    if (!index) return std::move(index).error().context("index of " + ref.str());
    if (!out.index_digest) out.index_digest = doc.digest;
    auto entry = oci::select_platform(*index, want);
    if (!entry) return std::move(entry).error().context(ref.str());
    VMI_TRY(Document next, fetch_manifest(s, ref, entry->digest.str(), cancel));
    if (next.digest != entry->digest) {
      return digest_mismatch("manifest for " + want.str() + " of " + ref.str(), entry->digest,
                             next.digest);
    }
    if (static_cast<int64_t>(next.bytes.size()) != entry->size) {
      return Error(ErrorKind::kImageDigest, "manifest " + entry->digest.str() + ": index says " +
                                                std::to_string(entry->size) + " bytes, got " +
                                                std::to_string(next.bytes.size()));
    }
    out.platform = *entry->platform;
    doc = std::move(next);
  }
  return doc;
}

Status Client::Impl::load_config(const oci::Reference& ref, const oci::Platform& want,
                                 ResolvedImage& out, io::CancelFlag cancel) {
  const oci::Descriptor& desc = out.manifest.config;
  uint64_t max = options.limits.max_config_bytes;
  if (static_cast<uint64_t>(desc.size) > max) {
    return Error(kKind, "image config " + desc.digest.str() + " is " + std::to_string(desc.size) +
                            " bytes, more than " + std::to_string(max) +
                            " (limit max-config-bytes)");
  }
  VMI_TRY(auto stream, open_stream(ref, desc, nullptr, -1,
                                   document_deadline(session_for(ref).config()), cancel));
  io::HashingReader hashed(std::move(stream), "image config " + desc.digest.str(),
                           desc.digest.str(), static_cast<uint64_t>(desc.size));
  VMI_TRY(out.config_bytes, io::read_all(hashed, static_cast<size_t>(desc.size) + 1));
  auto config = oci::parse_image_config(out.config_bytes);
  if (!config) return std::move(config).error().context("image config " + desc.digest.str());
  out.config = std::move(config).value();
  if (!out.index_digest) {
    oci::Platform have = oci::platform_of(out.config);
    if (have.os.empty() || have.architecture.empty()) {
      out.platform = want;  // an image that does not say: take it as asked
    } else if (!oci::platform_matches(want, have)) {
      return Error(kKind,
                   ref.str() + " is an image for " + have.str() + " only, not " + want.str());
    } else {
      out.platform = have;
    }
  }
  return {};
}

Result<std::unique_ptr<BlobStream>> Client::Impl::open_stream(const oci::Reference& repo,
                                                              const oci::Descriptor& blob,
                                                              ProgressSink* progress, int index,
                                                              RetryState::Deadline deadline,
                                                              io::CancelFlag cancel) {
  Session& s = session_for(repo);
  BlobStreamOptions o;
  o.deadline = deadline;
  o.cancel = cancel;
  o.max_resumes = options.max_resumes;
  o.progress = progress;
  o.layer_index = index;
  auto stream =
      std::make_unique<BlobStream>(s, repo.path, blob.digest, static_cast<uint64_t>(blob.size), o);
  VMI_CHECK(stream->open());
  return stream;
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::create(ClientOptions options) {
  static std::once_flag curl_init;
  std::call_once(curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (options.ca_file.empty()) {
    if (const char* env = std::getenv("SSL_CERT_FILE")) options.ca_file = env;
  }
  if (!options.ca_file.empty()) {
    struct stat st {};
    if (::stat(options.ca_file.c_str(), &st) != 0) {
      return sys_error(ErrorKind::kUsage, "CA file " + options.ca_file);
    }
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->credential_env = CredentialEnv::from_environment();
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

Result<ResolvedImage> Client::resolve(const oci::Reference& ref, const oci::Platform& platform,
                                      ProgressSink* progress, io::CancelFlag cancel) {
  Session& s = impl_->session_for(ref);
  ResolvedImage out;
  out.reference = ref;
  VMI_TRY(Document doc, impl_->fetch_manifest(s, ref, ref.identifier(), cancel));
  if (ref.digest && doc.digest != *ref.digest) {
    return digest_mismatch("manifest of " + ref.str(), *ref.digest, doc.digest);
  }
  VMI_TRY(doc, impl_->follow_index(s, ref, std::move(doc), platform, out, cancel));
  auto manifest = oci::parse_manifest(doc.bytes, doc.content_type);
  if (!manifest) return std::move(manifest).error().context("manifest " + doc.digest.str());
  out.manifest = std::move(manifest).value();
  VMI_CHECK(check_image_types(out.manifest, ref.str()));
  if (out.manifest.layers.size() > impl_->options.limits.max_layers) {
    return Error(kKind, ref.str() + " has " + std::to_string(out.manifest.layers.size()) +
                            " layers, more than " +
                            std::to_string(impl_->options.limits.max_layers) +
                            " (limit max-layers)");
  }
  out.digest = doc.digest;
  out.manifest_media_type = out.manifest.media_type;
  out.manifest_bytes = std::move(doc.bytes);
  VMI_CHECK(impl_->load_config(ref, platform, out, cancel));
  if (out.config.diff_ids.size() != out.manifest.layers.size()) {
    return Error(kKind, ref.str() + ": the manifest has " +
                            std::to_string(out.manifest.layers.size()) + " layers but the config " +
                            std::to_string(out.config.diff_ids.size()) + " diff_ids");
  }
  for (size_t i = 0; i < out.manifest.layers.size(); ++i) {
    out.layers.push_back(Layer{out.manifest.layers[i], out.config.diff_ids[i],
                               *oci::layer_type(out.manifest.layers[i].media_type)});
    if (progress) {
      LayerEvent e;
      e.digest = out.manifest.layers[i].digest;
      e.index = static_cast<int>(i);
      e.total = static_cast<uint64_t>(out.manifest.layers[i].size);
      progress->on_layer(e);
    }
  }
  return out;
}

Result<std::unique_ptr<io::Reader>> Client::open_blob(const oci::Reference& repo,
                                                      const oci::Descriptor& blob,
                                                      ProgressSink* progress, int layer_index,
                                                      io::CancelFlag cancel) {
  VMI_TRY(auto stream, impl_->open_stream(repo, blob, progress, layer_index, std::nullopt, cancel));
  auto hashed = std::make_unique<io::HashingReader>(
      std::move(stream), "blob " + blob.digest.str() + " of " + repo.name(), blob.digest.str(),
      static_cast<uint64_t>(blob.size), io::HashOn::kWorker);
  LayerEvent base;
  base.digest = blob.digest;
  base.index = layer_index;
  base.total = static_cast<uint64_t>(blob.size);
  return std::unique_ptr<io::Reader>(
      std::make_unique<ProgressReader>(std::move(hashed), progress, std::move(base)));
}

Result<std::unique_ptr<io::Reader>> Client::open_layer(const oci::Reference& repo,
                                                       const Layer& layer, ProgressSink* progress,
                                                       int layer_index, io::CancelFlag cancel) {
  VMI_TRY(auto blob, open_blob(repo, layer.descriptor, progress, layer_index, cancel));
  std::string name = "layer " + layer.descriptor.digest.str();
  if (layer.type.format == oci::LayerFormat::kErofs) {
    // A raw image is its blob: the blob's digest check is the DiffID's.
    if (layer.type.compression == io::Compression::kNone &&
        layer.descriptor.digest == layer.diff_id) {
      return blob;
    }
    return oci::open_layer_image(std::move(blob), layer.type.compression, layer.diff_id, name);
  }
  return oci::open_layer_tar(std::move(blob), layer.diff_id, std::move(name));
}

namespace {

constexpr size_t kMaxPushAnswer = 64 * 1024;

Error push_error(const std::string& what, const Response& r) {
  std::string summary = registry_error_summary(r.body);
  return Error(ErrorKind::kPushImage,
               what + ": " + status_text(r.status) + (summary.empty() ? "" : " (" + summary + ")"));
}

// A failure of a push request as a push error; a cancellation stays one.
Error as_push_error(const Error& e) {
  if (e.kind() == ErrorKind::kCancelled) return e;
  return Error(ErrorKind::kPushImage, e.message(), e.sys_errno());
}

// A request that writes to `repo` (its token asks for pull and push).
RequestSpec push_request(std::string method, const oci::Reference& repo, std::string path,
                         io::CancelFlag cancel) {
  RequestSpec spec;
  spec.method = std::move(method);
  spec.path = std::move(path);
  spec.repository = repo.path;
  spec.actions = "pull,push";
  spec.cancel = cancel;
  return spec;
}

}  // namespace

Result<bool> Client::has_blob(const oci::Reference& repo, const oci::Digest& digest,
                              io::CancelFlag cancel) {
  Session& s = impl_->session_for(repo);
  RequestSpec spec =
      push_request("HEAD", repo, "/v2/" + repo.path + "/blobs/" + digest.str(), cancel);
  auto r = s.fetch(spec, kMaxPushAnswer);
  if (!r) return as_push_error(r.error());
  if (r->status == 200) return true;
  if (r->status == 404) return false;
  return push_error("HEAD " + repo.name() + " blob " + digest.str(), *r);
}

Result<bool> Client::mount_blob(const oci::Reference& repo, const oci::Digest& digest,
                                const std::string& from, io::CancelFlag cancel) {
  Session& s = impl_->session_for(repo);
  RequestSpec spec =
      push_request("POST", repo,
                   "/v2/" + repo.path + "/blobs/uploads/?mount=" + url_encode(digest.str()) +
                       "&from=" + url_encode(from),
                   cancel);
  auto r = s.fetch(spec, kMaxPushAnswer);
  if (!r) return as_push_error(r.error());
  return r->status == 201;
}

Status Client::upload_blob(const oci::Reference& repo, const oci::Digest& digest, int fd,
                           uint64_t size, io::CancelFlag cancel, const UploadProgress& progress,
                           const UploadJournal* journal) {
  if (size > impl_->options.upload_chunk) {
    auto sent = send_chunks(repo, fd, size, digest, cancel, progress, journal);
    if (!sent) return std::move(sent).error();
    return {};
  }
  return upload(
      repo, digest,
      [&](RequestSpec& put) {
        put.upload = UploadBody{fd, 0, size, nullptr};
        if (progress) {
          put.upload->observe = [&](uint64_t at, std::span<const std::byte> bytes) {
            progress(at + bytes.size());
          };
        }
      },
      cancel);
}

Status Client::upload_blob(const oci::Reference& repo, const oci::Digest& digest,
                           const std::string& bytes, io::CancelFlag cancel) {
  return upload(
      repo, digest, [&](RequestSpec& put) { put.body = bytes; }, cancel);
}

namespace {

// An upload Location as an absolute URL on the registry's own origin.
Result<std::string> upload_url(Session& s, const std::string& location, const std::string& what) {
  std::string url = location[0] == '/' ? s.url_for(location) : location;
  // The blob goes where the registry itself is, never to another origin.
  if (url_origin(url) != url_origin(s.url_for("/v2/"))) {
    return Error(ErrorKind::kPushImage,
                 what + ": refusing the upload location " + redact_url(url) + " on another origin");
  }
  return url;
}

std::string with_digest(const std::string& url, const oci::Digest& digest) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") +
         "digest=" + url_encode(digest.str());
}

// A request that is sent once: the upload session may hold part of a broken
// attempt, so what follows a failure is the caller's to decide.
RetryState no_retries(const Session& s, io::CancelFlag cancel) {
  RetryPolicy once = s.config().retry;
  once.max_retries = 0;
  return RetryState(once, std::nullopt, cancel);
}

// The registry's answer to one step of an upload.
struct StepAnswer {
  Response response;
  std::string range;  // the Range header: what an upload session holds
};

// One step of an upload, sent once: the registry's answer whatever its
// status, else the error; `transient` says whether another attempt may fare
// better (a lost connection, a 5xx or 429 answer, a body cut short) than
// after a refusal or a cancellation.
Result<StepAnswer> send_step(Session& s, const RequestSpec& spec, const std::string& what,
                             bool& transient) {
  RetryState once = no_retries(s, spec.cancel);
  auto sent = s.open(spec, once, &transient);
  if (!sent) {
    if (sent.error().kind() == ErrorKind::kCancelled) return std::move(sent).error();
    return as_push_error(sent.error()).context(what);
  }
  auto body = read_body(**sent, kMaxPushAnswer);
  if (!body) {
    transient = body.error().kind() != ErrorKind::kCancelled;
    return as_push_error(body.error()).context(what);
  }
  return StepAnswer{Response{(*sent)->status(), std::move(body).value(), "", (*sent)->header("location")},
                    (*sent)->header("range")};
}

// After a failure that another attempt may not meet: fine to try again (the
// backoff slept), else the error to end with.
Status try_again(RetryState& in_a_row, const Error& failure) {
  if (in_a_row.next()) return {};
  VMI_CHECK(io::check_cancel(in_a_row.cancel()));
  return failure.context("giving up after " + std::to_string(in_a_row.failures() + 1) +
                         " attempts");
}

// The bytes an upload session holds from the Range header of its status or of
// a chunk's answer: "0-N" holds N + 1 ("0-0" is how Distribution says none);
// nullopt when there is no such header.
std::optional<uint64_t> held_bytes(std::string_view range) {
  if (range.starts_with("bytes=")) range.remove_prefix(6);
  if (!range.starts_with("0-")) return std::nullopt;
  range.remove_prefix(2);
  uint64_t end = 0;
  auto [ptr, ec] = std::from_chars(range.data(), range.data() + range.size(), end);
  if (ec != std::errc() || ptr != range.data() + range.size() || end == UINT64_MAX) {
    return std::nullopt;
  }
  return end == 0 ? 0 : end + 1;
}

// Where an interrupted upload stands: its URL for the next chunk and the
// bytes the registry holds.
struct UploadStatus {
  std::string url;
  uint64_t held = 0;
};

// nullopt when the registry cannot say (the session is gone, or the answer
// makes no sense): start over.
Result<std::optional<UploadStatus>> upload_status(Session& s, const oci::Reference& repo,
                                                  const std::string& url, const std::string& what,
                                                  io::CancelFlag cancel) {
  RequestSpec get = push_request("GET", repo, "", cancel);
  get.url = url;
  bool transient = false;
  auto answer = send_step(s, get, what, transient);
  if (!answer) {
    if (answer.error().kind() == ErrorKind::kCancelled) return std::move(answer).error();
    return std::optional<UploadStatus>();
  }
  if (answer->response.status != 204) return std::optional<UploadStatus>();
  std::optional<uint64_t> held = held_bytes(answer->range);
  if (!held) return std::optional<UploadStatus>();
  std::string next = url;
  if (!answer->response.location.empty()) {
    VMI_TRY(next, upload_url(s, answer->response.location, what));
  }
  return std::optional<UploadStatus>(UploadStatus{next, *held});
}

// Hashes bytes [from, to) of `fd` (what a resumed upload does not send again).
Status hash_range(io::Sha256& hash, int fd, uint64_t from, uint64_t to, io::CancelFlag cancel) {
  std::vector<std::byte> buf(std::min<uint64_t>(to - from, 1 << 20));
  while (from < to) {
    VMI_CHECK(io::check_cancel(cancel));
    size_t want = static_cast<size_t>(std::min<uint64_t>(to - from, buf.size()));
    ssize_t got = ::pread(fd, buf.data(), want, static_cast<off_t>(from));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return sys_error(ErrorKind::kIo, "reading the blob being uploaded");
    hash.update(std::span(buf.data(), static_cast<size_t>(got)));
    from += static_cast<uint64_t>(got);
  }
  return {};
}

Status note(const UploadJournal* journal, const std::string& url) {
  if (!journal || !journal->note) return {};
  return journal->note(url);
}

// One blob going up in chunks (Client::send_chunks), and what a failing
// registry may still cost it: failures in a row (counted again from none after
// each chunk that makes it), resumes of a session, sessions started over.
struct ChunkedUpload {
  Session& s;
  const oci::Reference& repo;
  int fd;
  uint64_t size;
  const std::optional<oci::Digest>& known;
  uint64_t chunk;
  io::CancelFlag cancel;
  const UploadProgress& progress;
  const UploadJournal* journal;
  std::function<Result<bool>(const oci::Digest&)> arrived;  // HEAD of the blob
  std::string what;
  RetryState in_a_row;
  int resumes_left;
};

// How a session ended: the blob is in, or the session is lost (why) and a new
// one may fare better.
struct SessionEnd {
  std::optional<oci::Digest> digest;
  std::optional<Error> lost;
};

// Sends the blob from `acked` (the bytes the session holds, `hash` their
// sha256 when the digest is not known) on through session `url`, then PUT.
Result<SessionEnd> run_session(ChunkedUpload& u, std::string url, uint64_t acked,
                               io::Sha256& hash) {
  while (acked < u.size) {
    uint64_t length = std::min(u.chunk, u.size - acked);
    io::Sha256 chunk_hash;
    uint64_t sent = 0;
    if (!u.known && !chunk_hash.copy_from(hash)) return Error(ErrorKind::kInternal, "out of memory");
    RequestSpec patch = push_request("PATCH", u.repo, "", u.cancel);
    patch.url = url;
    patch.headers = {"Content-Type: application/octet-stream",
                     "Content-Range: " + std::to_string(acked) + "-" +
                         std::to_string(acked + length - 1)};
    patch.upload =
        UploadBody{u.fd, acked, length, [&](uint64_t at, std::span<const std::byte> bytes) {
                     // A body sent again (after a 401) is hashed once.
                     if (at + bytes.size() <= sent || at > sent) return;
                     bytes = bytes.subspan(static_cast<size_t>(sent - at));
                     if (!u.known) chunk_hash.update(bytes);
                     sent += bytes.size();
                     if (u.progress) u.progress(acked + sent);
                   }};
    bool transient = false;
    auto patched = send_step(u.s, patch, u.what, transient);
    if (patched && patched->response.status == 202 && !patched->response.location.empty() &&
        sent == length) {
      VMI_TRY(url, upload_url(u.s, patched->response.location, u.what));
      acked += length;
      if (!u.known && !hash.copy_from(chunk_hash)) return Error(ErrorKind::kInternal, "out of memory");
      u.in_a_row.reset();
      VMI_CHECK(note(u.journal, url));
      continue;
    }
    Error failure = patched ? push_error(u.what, patched->response) : patched.error();
    if (!patched && !transient) return failure;  // refused, or cancelled
    int status = patched ? patched->response.status : 0;
    // The session is gone (expired, or cancelled by the registry): a new one.
    if (status == 404 || status == 400) return SessionEnd{std::nullopt, failure};
    if (patched && status != 416 && status != 202) return failure;
    // Lost on the way, 416, or taken in part: on from where the registry stands.
    VMI_CHECK(try_again(u.in_a_row, failure));
    if (--u.resumes_left < 0) return SessionEnd{std::nullopt, failure};
    VMI_TRY(std::optional<UploadStatus> where, upload_status(u.s, u.repo, url, u.what, u.cancel));
    if (!where || where->held < acked || where->held > acked + length) {
      return SessionEnd{std::nullopt, failure};
    }
    if (!u.known) VMI_CHECK(hash_range(hash, u.fd, acked, where->held, u.cancel));
    acked = where->held;
    url = where->url;
    VMI_CHECK(note(u.journal, url));
  }
  oci::Digest digest;
  if (u.known) {
    digest = *u.known;
  } else {
    VMI_TRY(digest, oci::Digest::parse(hash.finish_digest(), ErrorKind::kPushImage));
    if (u.journal && u.journal->hashed) VMI_CHECK(u.journal->hashed(digest));
  }
  while (true) {
    RequestSpec put = push_request("PUT", u.repo, "", u.cancel);
    put.url = with_digest(url, digest);
    bool transient = false;
    auto done = send_step(u.s, put, u.what, transient);
    if (done && done->response.status == 201) {
      VMI_CHECK(note(u.journal, ""));
      return SessionEnd{digest, std::nullopt};
    }
    Error failure = done ? push_error(u.what, done->response) : done.error();
    // The session is gone, or holds other bytes than these (a resumed session
    // whose data the registry had lost): a new one.
    int status = done ? done->response.status : 0;
    if (status == 404 || status == 400) return SessionEnd{std::nullopt, failure};
    if (done || !transient) return failure;
    // The answer was lost: the blob may be in all the same.
    VMI_TRY(bool there, u.arrived(digest));
    if (there) {
      VMI_CHECK(note(u.journal, ""));
      return SessionEnd{digest, std::nullopt};
    }
    VMI_CHECK(try_again(u.in_a_row, failure));
    // Still holding every byte: commit it again, without sending them again.
    if (--u.resumes_left < 0) return SessionEnd{std::nullopt, failure};
    VMI_TRY(std::optional<UploadStatus> where, upload_status(u.s, u.repo, url, u.what, u.cancel));
    if (!where || where->held != u.size) return SessionEnd{std::nullopt, failure};
    url = where->url;
  }
}

// The session an earlier process left, where the registry says it stands;
// nullopt when it cannot go on (gone, on another origin, or holding more
// than the blob).
Result<std::optional<UploadStatus>> earlier_session(ChunkedUpload& u, const std::string& kept) {
  // url_for() must know the registry's scheme before the origins are compared.
  Status probed = u.s.probe(u.cancel);
  if (!probed) {
    VMI_CHECK(io::check_cancel(u.cancel));
    return std::optional<UploadStatus>();
  }
  auto url = upload_url(u.s, kept, u.what);
  if (!url) return std::optional<UploadStatus>();
  auto status = upload_status(u.s, u.repo, *url, u.what, u.cancel);
  if (!status) {
    VMI_CHECK(io::check_cancel(u.cancel));
    return std::optional<UploadStatus>();
  }
  if (*status && (*status)->held > u.size) status->reset();
  return std::move(status).value();
}

}  // namespace

Result<std::string> Client::begin_upload(const oci::Reference& repo, const std::string& what,
                                         io::CancelFlag cancel) {
  Session& s = impl_->session_for(repo);
  RequestSpec start = push_request("POST", repo, "/v2/" + repo.path + "/blobs/uploads/", cancel);
  auto begun = s.fetch(start, kMaxPushAnswer);
  if (!begun) return as_push_error(begun.error()).context(what);
  if (begun->status != 202 || begun->location.empty()) return push_error(what, *begun);
  return upload_url(s, begun->location, what);
}

Result<oci::Digest> Client::upload_blob_hashing(const oci::Reference& repo, int fd, uint64_t size,
                                                io::CancelFlag cancel,
                                                const UploadProgress& progress,
                                                const UploadJournal* journal) {
  return send_chunks(repo, fd, size, std::nullopt, cancel, progress, journal);
}

Result<oci::Digest> Client::send_chunks(const oci::Reference& repo, int fd, uint64_t size,
                                        const std::optional<oci::Digest>& known,
                                        io::CancelFlag cancel, const UploadProgress& progress,
                                        const UploadJournal* journal) {
  Session& s = impl_->session_for(repo);
  ChunkedUpload u{s,
                  repo,
                  fd,
                  size,
                  known,
                  std::max<uint64_t>(impl_->options.upload_chunk, 1),
                  cancel,
                  progress,
                  journal,
                  [&](const oci::Digest& d) { return has_blob(repo, d, cancel); },
                  "uploading a " + std::to_string(size) + "-byte blob to " + repo.name(),
                  RetryState(s.config().retry, std::nullopt, cancel),
                  impl_->options.max_resumes};
  RetryState sessions(s.config().retry, std::nullopt, cancel);  // never counted again
  std::optional<UploadStatus> earlier;
  if (journal && !journal->resume_url.empty()) {
    VMI_TRY(earlier, earlier_session(u, journal->resume_url));
    if (!earlier) VMI_CHECK(note(journal, ""));
  }
  while (true) {
    std::string url;
    io::Sha256 hash;  // of [0, acked) when the digest is not known
    uint64_t acked = 0;
    if (earlier) {
      url = earlier->url;
      acked = earlier->held;
      if (!known) VMI_CHECK(hash_range(hash, fd, 0, acked, cancel));
      if (progress) progress(acked);
      earlier.reset();
    } else {
      VMI_TRY(url, begin_upload(repo, u.what, cancel));
    }
    VMI_TRY(SessionEnd end, run_session(u, url, acked, hash));
    if (end.digest) return *end.digest;
    if (!sessions.next()) {
      VMI_CHECK(io::check_cancel(cancel));
      return end.lost->context("giving up after " + std::to_string(sessions.failures() + 1) +
                               " upload sessions");
    }
  }
}

Status Client::upload(const oci::Reference& repo, const oci::Digest& digest,
                      const std::function<void(RequestSpec&)>& set_body, io::CancelFlag cancel) {
  Session& s = impl_->session_for(repo);
  std::string what = "uploading " + digest.str() + " to " + repo.name();
  RetryState in_a_row(s.config().retry, std::nullopt, cancel);
  while (true) {
    VMI_TRY(std::string url, begin_upload(repo, what, cancel));
    RequestSpec put = push_request("PUT", repo, "", cancel);
    put.url = with_digest(url, digest);
    put.headers = {"Content-Type: application/octet-stream"};
    set_body(put);
    bool transient = false;
    auto done = send_step(s, put, what, transient);
    if (done && done->response.status == 201) return {};
    Error failure = done ? push_error(what, done->response) : done.error();
    if (done || !transient) return failure;
    // The answer was lost: the blob may be in all the same.
    VMI_TRY(bool there, has_blob(repo, digest, cancel));
    if (there) return {};
    VMI_CHECK(try_again(in_a_row, failure));
  }
}

Result<std::optional<FetchedDocument>> Client::fetch_document(const oci::Reference& ref,
                                                              io::CancelFlag cancel) {
  Session& s = impl_->session_for(ref);
  auto doc = impl_->fetch_manifest(s, ref, ref.identifier(), cancel);
  if (!doc && doc.error().kind() == ErrorKind::kImageNotFound) {
    return std::optional<FetchedDocument>();
  }
  if (!doc) return std::move(doc).error();
  if (ref.digest && doc->digest != *ref.digest) {
    return digest_mismatch("manifest " + ref.str(), *ref.digest, doc->digest);
  }
  return std::optional<FetchedDocument>(
      FetchedDocument{doc->digest, std::move(doc->bytes), std::move(doc->content_type)});
}

Result<std::optional<std::string>> Client::referrers(const oci::Reference& repo,
                                                     const oci::Digest& subject,
                                                     std::string_view artifact_type,
                                                     io::CancelFlag cancel) {
  Session& s = impl_->session_for(repo);
  RequestSpec spec;
  spec.cancel = cancel;
  spec.path = "/v2/" + repo.path + "/referrers/" + subject.str();
  if (!artifact_type.empty())
    spec.path += "?artifactType=" + url_encode(std::string(artifact_type));
  spec.repository = repo.path;
  spec.headers.push_back("Accept: " + std::string(oci::kOciIndex));
  std::string what = "referrers of " + subject.str() + " in " + repo.name();
  VMI_TRY(Response r, s.fetch(spec, impl_->options.limits.max_manifest_bytes));
  if (r.status == 404) return std::optional<std::string>();
  if (r.status != 200) {
    std::string summary = registry_error_summary(r.body);
    return Error(
        kKind, what + ": " + status_text(r.status) + (summary.empty() ? "" : " (" + summary + ")"));
  }
  return std::optional<std::string>(std::move(r.body));
}

Status Client::put_manifest(const oci::Reference& ref, const std::string& media_type,
                            const std::string& bytes, io::CancelFlag cancel) {
  Session& s = impl_->session_for(ref);
  RequestSpec spec =
      push_request("PUT", ref, "/v2/" + ref.path + "/manifests/" + ref.identifier(), cancel);
  spec.headers = {"Content-Type: " + media_type};
  spec.body = bytes;
  RetryState retry(s.config().retry, std::nullopt, cancel);
  while (true) {
    auto r = s.fetch(spec, kMaxPushAnswer);
    if (!r) return as_push_error(r.error()).context("storing the manifest " + ref.str());
    if (r->status == 201) return {};
    // The digest is the bytes' own: DIGEST_INVALID is the registry reading a
    // link that another push of the same manifest or blob is rewriting
    // (Distribution 2.8's filesystem storage writes links in place). Again.
    if (r->status == 400 && registry_error_summary(r->body).starts_with("DIGEST_INVALID") &&
        retry.next()) {
      continue;
    }
    VMI_CHECK(io::check_cancel(cancel));
    return push_error("storing the manifest " + ref.str(), *r);
  }
}

Status Client::check_login(std::string_view domain, const Credential& credential,
                           io::CancelFlag cancel) {
  VMI_TRY(oci::Reference ref, oci::parse_reference(std::string(domain) + "/login:probe"));
  ClientOptions options = impl_->options;
  options.credentials = [credential](std::string_view, std::string_view) {
    return Result<std::optional<Credential>>(std::optional<Credential>(credential));
  };
  // A client of its own: these credentials must not serve other requests.
  VMI_TRY(auto probe, Client::create(std::move(options)));
  return probe->impl_->session_for(ref).check_credentials(cancel);
}

}  // namespace vmimage::registry
