// A C++20 program against the installed C++ API (include/vmimage/): imports
// ARCHIVE as TAG into a store in DIR, lists it, removes it, collects garbage.
// Usage: cxx_program DIR ARCHIVE TAG
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <vmimage/builder.h>
#include <vmimage/version.h>

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  vmimage::BuildOptions options;
  options.cache_dir = argv[1];
  vmimage::Result<vmimage::Builder> builder = vmimage::Builder::create(options);
  if (!builder) {
    std::fprintf(stderr, "FAIL: %s\n", builder.error().describe().c_str());
    return 1;
  }
  int fd = ::open(argv[2], O_RDONLY);
  auto imported = builder->import_fd(fd, argv[3]);
  ::close(fd);
  if (!imported) {
    std::fprintf(stderr, "FAIL: import: %s\n", imported.error().describe().c_str());
    return 1;
  }
  auto images = builder->store().list();
  bool listed = images && images->size() == 1 && images->front().tag == argv[3] &&
                images->front().rootfs_path == imported->rootfs_path;
  auto removed = builder->store().remove(argv[3]);
  auto missing = builder->store().get(argv[3]);
  auto gc = builder->store().gc();
  bool ok = listed && removed && removed->blobs_removed > 0 && !missing &&
            missing.error().kind() == vmimage::ErrorKind::kImageNotFound && gc;
  std::printf("cxx_program %s: %s, %zu lowers: %s\n", std::string(vmimage::version()).c_str(),
              imported->digest.c_str(), imported->lower_paths.size(), ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}
