// The release of the library and of the `vmimage` command: one string.
#pragma once

#include <string_view>

#define VMIMAGE_VERSION "0.2.0"

namespace vmimage {

inline std::string_view version() { return VMIMAGE_VERSION; }

}  // namespace vmimage
