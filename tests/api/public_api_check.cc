// Compiled with only include/ on the include path: every public header stands
// alone, and a program using the API links and runs against the library.
#include <vmimage/builder.h>
#include <vmimage/cancel.h>
#include <vmimage/error.h>
#include <vmimage/limits.h>
#include <vmimage/result.h>
#include <vmimage/store.h>
#include <vmimage/types.h>
#include <vmimage/version.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

int main() {
  char tmpl[] = "/tmp/vmimage-api.XXXXXX";
  std::string dir = mkdtemp(tmpl);
  int status = 1;
  {
    vmimage::BuildOptions options;
    options.cache_dir = dir;
    vmimage::Result<vmimage::Builder> builder = vmimage::Builder::create(options);
    if (builder.ok()) {
      auto images = builder->store().list();
      auto gc = builder->store().gc();
      vmimage::Result<vmimage::LowerLayout> layout = vmimage::parse_layout("auto:2");
      vmimage::CancelToken cancel;
      cancel.cancel();
      auto cancelled = builder->build("example.com/none:v1", cancel);
      bool ok = images.ok() && images->empty() && gc.ok() && layout.ok() && !cancelled.ok() &&
                cancelled.error().kind() == vmimage::ErrorKind::kCancelled &&
                !vmimage::version().empty();
      status = ok ? 0 : 2;
    } else {
      std::fprintf(stderr, "%s\n", builder.error().describe().c_str());
    }
  }
  std::filesystem::remove_all(dir);
  return status;
}
