/* The release of the library and of the `vmimage` command: one string, which
 * CMake also reads (project version, the .so's VERSION). Plain C up to the C++
 * part, so that the C ABI (vmimage.h) shares it. */
#ifndef VMIMAGE_VERSION_H
#define VMIMAGE_VERSION_H

#define VMIMAGE_VERSION "0.2.0"

#ifdef __cplusplus
#include <string_view>

namespace vmimage {

inline std::string_view version() { return VMIMAGE_VERSION; }

}  // namespace vmimage
#endif

#endif /* VMIMAGE_VERSION_H */
