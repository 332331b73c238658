/* Which declarations of include/vmimage/ the shared library exports: the C ABI
 * (vmimage.h) and the C++ API. Everything else is built with
 * -fvisibility=hidden. Plain C so that vmimage.h can include it. */
#ifndef VMIMAGE_EXPORT_H
#define VMIMAGE_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define VMIMAGE_API __attribute__((visibility("default")))
/* A private part of an exported class (its pimpl), kept out of the ABI. */
#define VMIMAGE_LOCAL __attribute__((visibility("hidden")))
#else
#define VMIMAGE_API
#define VMIMAGE_LOCAL
#endif

#endif /* VMIMAGE_EXPORT_H */
