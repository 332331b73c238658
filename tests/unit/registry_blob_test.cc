// Blob streams against an in-process fake registry: digest verification,
// Range resume and restart-and-skip after cut connections, stall timeouts,
// retries on 5xx/429 (bounded), the bounded buffer between curl and the
// reader, and loopback throughput.
#include <gtest/gtest.h>

#include <chrono>

#include "io/sha256.h"
#include "registry_fake_registry.h"
#include "source/registry/http.h"

namespace vmimage::registry {
namespace {

using testing::FakeRegistry;
using testing::FakeRequest;
using testing::FakeResponse;
using testing::FakeServer;
using testing::json_response;
using Clock = std::chrono::steady_clock;

oci::Reference repo_ref(const FakeRegistry& reg, const std::string& repo) {
  return oci::parse_reference(reg.host() + "/" + repo).value();
}

oci::Descriptor blob_desc(const oci::Digest& d, size_t size) {
  oci::Descriptor desc;
  desc.media_type = std::string(oci::kOciLayerTar);
  desc.digest = d;
  desc.size = static_cast<int64_t>(size);
  return desc;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Serves `blob` normally except for the first `faults` requests of its path,
// which get `fault` applied.
struct FaultyBlob {
  FakeRegistry reg;
  std::string data;
  oci::Digest digest;
  std::string path;
  std::atomic<int> faults{1};

  FaultyBlob(size_t size, std::function<void(FakeResponse&)> fault)
      : data(testing::test_bytes(size, 7)) {
    digest = reg.add_blob("ns/blob", data);
    path = "/v2/ns/blob/blobs/" + digest.str();
    reg.set_hook([this, fault](const FakeRequest& r) -> std::optional<FakeResponse> {
      if (r.target != path || faults.fetch_sub(1) <= 0) return std::nullopt;
      FakeResponse resp = json_response(200, data, "application/octet-stream");
      fault(resp);
      return resp;
    });
  }

  Result<std::string> fetch(ClientOptions options = testing::fast_options()) {
    VMI_TRY(auto client, Client::create(options));
    VMI_TRY(auto reader,
            client->open_blob(repo_ref(reg, "ns/blob"), blob_desc(digest, data.size())));
    return testing::read_stream(*reader);
  }

  std::vector<std::string> ranges() {
    std::vector<std::string> out;
    for (const FakeRequest& r : reg.server().requests()) {
      if (r.target == path) out.push_back(r.header("range"));
    }
    return out;
  }
};

TEST(RegistryBlob, VerifiesDigestAndSize) {
  FakeRegistry reg;
  std::string data = testing::test_bytes(100000, 1);
  oci::Digest d = reg.add_blob("ns/blob", data);
  auto client = Client::create(testing::fast_options()).value();
  auto ok = client->open_blob(repo_ref(reg, "ns/blob"), blob_desc(d, data.size()));
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  auto got = testing::read_stream(**ok);
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_TRUE(*got == data);

  // The same path serving other bytes: a digest mismatch naming the digest.
  std::string corrupt = data;
  corrupt[5000] ^= 1;
  reg.set_hook([&](const FakeRequest& r) -> std::optional<FakeResponse> {
    if (r.target.find("/blobs/") == std::string::npos) return std::nullopt;
    return json_response(200, corrupt, "application/octet-stream");
  });
  auto bad = client->open_blob(repo_ref(reg, "ns/blob"), blob_desc(d, data.size()));
  ASSERT_TRUE(bad.ok());
  auto read = testing::read_stream(**bad);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.error().kind(), ErrorKind::kImageDigest);
  EXPECT_NE(read.error().message().find("blob " + d.str()), std::string::npos);
  EXPECT_NE(read.error().message().find("digest mismatch"), std::string::npos);

  // A descriptor size that does not match.
  auto wrong_size = client->open_blob(repo_ref(reg, "ns/blob"), blob_desc(d, data.size() + 1));
  ASSERT_TRUE(wrong_size.ok());
  reg.set_hook(nullptr);
  auto short_read = testing::read_stream(**wrong_size);
  ASSERT_FALSE(short_read.ok());
  EXPECT_EQ(short_read.error().kind(), ErrorKind::kImageDigest);

  auto missing = client->open_blob(repo_ref(reg, "ns/blob"), blob_desc(oci::Digest::of("x"), 1));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("404"), std::string::npos) << missing.error().message();
}

TEST(RegistryBlob, CutConnectionResumesWithRange) {
  FaultyBlob blob(2 << 20, [](FakeResponse& r) { r.cut_after = 300000; });
  auto got = blob.fetch();
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_TRUE(*got == blob.data);
  EXPECT_EQ(blob.ranges(), (std::vector<std::string>{"", "bytes=300000-"}));
}

TEST(RegistryBlob, CutConnectionRestartsWithoutRangeSupport) {
  FaultyBlob blob(2 << 20, [](FakeResponse& r) { r.cut_after = 300000; });
  blob.reg.set_range_support(false);
  blob.faults = 2;  // cut twice: the restart must skip again, from a new offset
  auto got = blob.fetch();
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_TRUE(*got == blob.data);  // not a byte duplicated
  EXPECT_EQ(blob.ranges().size(), 3u);
}

TEST(RegistryBlob, StallIsCutShortAndResumed) {
  FaultyBlob blob(1 << 20, [](FakeResponse& r) { r.stall_after = 200000; });
  auto start = Clock::now();
  auto got = blob.fetch();
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_TRUE(*got == blob.data);
  double took = seconds_since(start);
  EXPECT_GE(took, 0.9);
  EXPECT_LT(took, 5.0);
  EXPECT_EQ(blob.ranges(), (std::vector<std::string>{"", "bytes=200000-"}));
}

TEST(RegistryBlob, StallWithoutEndFailsWithinBounds) {
  FaultyBlob blob(1 << 20, [](FakeResponse& r) { r.stall_after = 1000; });
  blob.faults = 1000;
  ClientOptions o = testing::fast_options();
  o.limits.max_retries = 1;
  o.max_resumes = 2;
  auto start = Clock::now();
  auto got = blob.fetch(o);
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.error().message().find("stalled"), std::string::npos) << got.error().message();
  EXPECT_LT(seconds_since(start), 8.0);
}

TEST(RegistryBlob, RetriesServerErrorsAndHonoursRetryAfter) {
  std::atomic<int> calls{0};
  FaultyBlob blob(100000, [&](FakeResponse& r) {
    int n = calls++;
    r.body = R"({"errors":[{"code":"UNAVAILABLE"}]})";
    r.status = n == 0 ? 500 : n == 1 ? 502 : 429;
    if (r.status == 429) r.headers.emplace_back("Retry-After", "1");
  });
  blob.faults = 3;
  auto start = Clock::now();
  auto got = blob.fetch();
  ASSERT_TRUE(got.ok()) << got.error().message();
  EXPECT_TRUE(*got == blob.data);
  EXPECT_EQ(blob.ranges().size(), 4u);
  EXPECT_GE(seconds_since(start), 1.0);  // Retry-After: 1
}

TEST(RegistryBlob, RetriesAreBounded) {
  FaultyBlob blob(1000, [](FakeResponse& r) { r.status = 503; });
  blob.faults = 1000;
  auto got = blob.fetch();
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.error().message().find("503 Service Unavailable after 5 attempts"),
            std::string::npos)
      << got.error().message();
  EXPECT_EQ(blob.ranges().size(), 5u);  // 1 + max_retries (4)

  FaultyBlob slow(1000, [](FakeResponse& r) {
    r.status = 429;
    r.headers.emplace_back("Retry-After", "3600");
  });
  auto start = Clock::now();
  auto refused = slow.fetch();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message().find("retry after 3600 s"), std::string::npos)
      << refused.error().message();
  EXPECT_LT(seconds_since(start), 2.0);
}

TEST(RegistryBlob, LayerStreamChecksDiffId) {
  FakeRegistry reg;
  auto img = reg.add_image("ns/app", "v1", {"tar zero", "tar one", "tar two"});
  auto client = Client::create(testing::fast_options()).value();
  auto ref = oci::parse_reference(reg.host() + "/ns/app:v1").value();
  auto r = client->resolve(ref, oci::parse_platform("linux/amd64").value());
  ASSERT_TRUE(r.ok()) << r.error().message();
  for (size_t i = 0; i < 3; ++i) {
    Layer layer = r->layers[i];
    auto tar = client->open_layer(ref, layer);
    ASSERT_TRUE(tar.ok());
    EXPECT_EQ(*testing::read_stream(**tar), img.tars[i]);
    layer.diff_id = oci::Digest::of("something else");
    auto bad = client->open_layer(ref, layer);
    ASSERT_TRUE(bad.ok());
    auto read = testing::read_stream(**bad);
    ASSERT_FALSE(read.ok());
    EXPECT_EQ(read.error().kind(), ErrorKind::kImageDigest);
    EXPECT_NE(read.error().message().find("DiffID " + layer.diff_id.str()), std::string::npos)
        << read.error().message();
  }
}

// Records progress events (from several threads).
struct Recorder : ProgressSink {
  std::mutex mu;
  std::vector<LayerEvent> events;
  void on_layer(const LayerEvent& e) override {
    std::lock_guard lock(mu);
    events.push_back(e);
  }
};

TEST(RegistryBlob, ProgressEvents) {
  FakeRegistry reg;
  reg.add_image("ns/app", "v1", {testing::test_bytes(1 << 20, 3), "small"});
  auto client = Client::create(testing::fast_options()).value();
  auto ref = oci::parse_reference(reg.host() + "/ns/app:v1").value();
  Recorder rec;
  auto r = client->resolve(ref, oci::parse_platform("linux/amd64").value(), &rec);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(rec.events.size(), 2u);
  EXPECT_EQ(rec.events[0].kind, LayerEvent::Kind::kResolved);
  EXPECT_EQ(rec.events[1].index, 1);
  rec.events.clear();
  auto tar = client->open_layer(ref, r->layers[0], &rec, 0);
  ASSERT_TRUE(tar.ok());
  ASSERT_TRUE(testing::read_stream(**tar).ok());
  ASSERT_GE(rec.events.size(), 2u);
  EXPECT_EQ(rec.events.back().kind, LayerEvent::Kind::kDone);
  const LayerEvent& last_bytes = rec.events[rec.events.size() - 2];
  EXPECT_EQ(last_bytes.kind, LayerEvent::Kind::kBytes);
  EXPECT_EQ(last_bytes.done, last_bytes.total);
  EXPECT_EQ(last_bytes.total, static_cast<uint64_t>(r->layers[0].descriptor.size));
}

TEST(RegistryHttp, BufferBetweenCurlAndReaderIsBounded) {
  auto shared = std::make_shared<const std::string>(testing::test_bytes(16 << 20, 9));
  const std::string& body = *shared;
  FakeServer server([&](const FakeRequest&) {
    FakeResponse r = json_response(200, "", "application/octet-stream");
    r.shared = shared;
    return r;
  });
  HttpPool pool;
  TransportOptions options;
  options.buffer_limit = 256 * 1024;
  HttpTransfer t(pool, HttpRequest{"GET", "http://" + server.host() + "/blob", {}, {}}, options);
  ASSERT_TRUE(t.start().ok());
  std::vector<std::byte> buf(4096);
  io::Sha256 hash;
  size_t total = 0;
  for (int i = 0;; ++i) {
    auto n = t.read(buf);
    ASSERT_TRUE(n.ok()) << n.error().message();
    if (*n == 0) break;
    hash.update(std::span(buf).first(*n));
    total += *n;
    // A slow consumer now and then: curl must pause, not pile bytes up.
    if (i % 512 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(total, body.size());
  EXPECT_EQ(hash.finish_digest(), io::sha256_digest(body));
  EXPECT_LE(t.max_buffered(), options.buffer_limit + 64 * 1024);
  EXPECT_GE(t.max_buffered(), options.buffer_limit / 2);  // it did fill up
}

TEST(RegistryBlob, LoopbackThroughput) {
  FakeRegistry reg;
  std::string data = testing::test_bytes(64 << 20, 11);
  oci::Digest d = reg.add_blob("ns/big", data);
  ClientOptions options = testing::fast_options();
  options.limits.stall_timeout = std::chrono::seconds(30);  // measuring speed, not stalls, on a busy host
  auto client = Client::create(options).value();
  auto start = Clock::now();
  auto reader = client->open_blob(repo_ref(reg, "ns/big"), blob_desc(d, data.size()));
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(io::drain(**reader).ok());
  double secs = seconds_since(start);
  double mib_s = static_cast<double>(data.size()) / (1 << 20) / secs;
  std::printf("blob stream (sha256-verified) over loopback: %.0f MiB/s\n", mib_s);
  RecordProperty("MiBPerSecond", static_cast<int>(mib_s));
}

}  // namespace
}  // namespace vmimage::registry
