// A stored image by the name a user gives it: as given, then normalized the way
// a pull stores it ("alpine" -> "docker.io/library/alpine:latest"); the local
// scope first, then the registry cache. The CLI's REF arguments and the C
// ABI's export, push and inspect look images up through it.
#pragma once

#include <string>
#include <string_view>

#include "vmimage/result.h"
#include "vmimage/store.h"

namespace vmimage {

struct FoundImage {
  std::string tag;  // as stored: the REF given, or its normalized form
  StoredImage image;
};

Result<FoundImage> find_image(Store& store, std::string_view ref);

}  // namespace vmimage
