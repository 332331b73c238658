// Test-only helper: fills a store through the Store API (the real write
// protocol) so the integration tests can drive the CLI before the Builder exists.
//   store_fixture DIR save SCOPE TAG NAME[:SIZE],... [RUNTIME_NAME[:SIZE],...]
//   store_fixture DIR digest NAME        prints the blob key test blob NAME gets
// A blob NAME holds "NAME;" repeated to SIZE bytes (default 4096); its key is
// sha256("key:NAME"). The image digest is sha256("manifest:TAG").
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "io/sha256.h"
#include "util/file.h"
#include "vmimage/store.h"

namespace {

using namespace vmimage;

struct BlobSpec {
  std::string name;
  size_t size = 4096;
};

std::vector<BlobSpec> parse_specs(const std::string& list) {
  std::vector<BlobSpec> specs;
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string item =
        list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) {
      BlobSpec spec;
      size_t colon = item.find(':');
      spec.name = item.substr(0, colon);
      if (colon != std::string::npos) spec.size = std::stoul(item.substr(colon + 1));
      specs.push_back(spec);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return specs;
}

std::string key_of(const std::string& name) {
  return io::sha256_digest("key:" + name);
}

std::string content_of(const BlobSpec& spec) {
  std::string out;
  while (out.size() < spec.size) out += spec.name + ";";
  out.resize(spec.size);
  return out;
}

Result<std::vector<LayerRef>> ensure_all(Lease& lease, const std::vector<BlobSpec>& specs) {
  std::vector<LayerRef> refs;
  for (const BlobSpec& spec : specs) {
    std::string content = content_of(spec);
    VMI_TRY(
        LayerRef ref,
        lease.ensure_blob(key_of(spec.name), FsType::kErofs, [&](int fd, const std::string& path) {
          return write_all(fd, std::as_bytes(std::span(content)), path);
        }));
    refs.push_back(ref);
  }
  return refs;
}

Status save(const std::string& dir, const std::string& scope_text, const std::string& tag,
            const std::string& canonical, const std::string& runtime) {
  auto scope = parse_scope(scope_text);
  if (!scope) return Error(ErrorKind::kUsage, "scope must be local or registry");
  VMI_TRY(Store store, Store::open(dir));
  VMI_TRY(Lease lease, store.begin_lease());
  ImageLayers layers;
  VMI_TRY(layers.canonical, ensure_all(lease, parse_specs(canonical)));
  VMI_TRY(layers.runtime, ensure_all(lease, parse_specs(runtime)));
  ImageMeta meta;
  meta.digest = io::sha256_digest("manifest:" + tag);
  meta.source = *scope == Scope::kLocal ? ImageSource::kImport : ImageSource::kRegistry;
  meta.oci.user = "app";
  meta.oci.working_dir = "/srv";
  meta.oci.entrypoint = {"/bin/server"};
  meta.oci.cmd = {"--port", "8080"};
  meta.oci.env = {{"PATH", "/usr/bin:/bin"}, {"MODE", "test"}};
  VMI_CHECK(store.save(*scope, tag, layers, meta));
  return lease.release();
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 3 && args[1] == "digest") {
    std::printf("%s\n", key_of(args[2]).c_str());
    return 0;
  }
  if ((args.size() == 5 || args.size() == 6) && args[1] == "save") {
    Status saved = save(args[0], args[2], args[3], args[4], args.size() == 6 ? args[5] : "");
    if (!saved.ok()) {
      std::fprintf(stderr, "store_fixture: %s\n", saved.error().describe().c_str());
      return 1;
    }
    return 0;
  }
  std::fprintf(stderr,
               "usage: store_fixture DIR save SCOPE TAG NAMES [RUNTIME_NAMES] | DIR digest NAME\n");
  return 2;
}
