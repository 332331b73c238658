/* vmimage's C ABI: the stable interface for programs in C and for bindings
 * (Go, Rust, Python). C99, no C++ types; a thin layer over the C++ API of
 * builder.h and store.h. docs/embedding.md gives the rules in full:
 *
 * - Versioning: the ABI is that of libvmimage.so.VMIMAGE_ABI_VERSION; symbols
 *   are only added within one ABI version, never changed or removed.
 * - Errors: every fallible function returns VMIMAGE_OK (0) or the kind of its
 *   error, and fills `err` (may be NULL) with the kind, errno and a message.
 * - Ownership: a `char**` out-parameter receives a string the caller frees
 *   with vmimage_free(); a `const char*` return is borrowed from the handle
 *   it came from. Handles are freed with their own _free function.
 * - Composite results (build results, image lists, push reports) are one JSON
 *   document each (UTF-8), with the keys docs/embedding.md lists.
 * - Threads: a handle is used by one thread at a time; distinct handles, even
 *   on the same store, may be used at once. A cancel token may be cancelled
 *   from any thread or a signal handler. Progress callbacks run on the
 *   library's worker threads, one at a time. */
#ifndef VMIMAGE_VMIMAGE_H
#define VMIMAGE_VMIMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "vmimage/export.h"
#include "vmimage/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* C names, typedefs and (void) are this header's style, whatever the C++
 * checks of .clang-tidy want. */
/* NOLINTBEGIN(readability-identifier-naming,modernize-use-using,modernize-redundant-void-arg) */

/* The SONAME's number: bumped only when the ABI breaks. */
#define VMIMAGE_ABI_VERSION 1

/* The library's release ("0.2.0", as VMIMAGE_VERSION) and ABI version, as
 * loaded at run time (the macros give the ones compiled against). */
VMIMAGE_API const char* vmimage_version(void);
VMIMAGE_API int vmimage_abi_version(void);

/* Error kinds: the model's sentinels (ErrParseReference ... ErrLayerFS) and
 * vmimage's own. The numbers are part of the ABI. */
typedef enum vmimage_error_kind {
  VMIMAGE_OK = 0,
  VMIMAGE_ERR_USAGE = 1, /* a bad argument */
  VMIMAGE_ERR_PARSE_REFERENCE = 2,
  VMIMAGE_ERR_PULL_IMAGE = 3,
  VMIMAGE_ERR_IMAGE_DIGEST = 4,
  VMIMAGE_ERR_CREATE_DIR = 5,
  VMIMAGE_ERR_CREATE_TEMP = 6,
  VMIMAGE_ERR_EXTRACT = 7,
  VMIMAGE_ERR_CREATE_EXT4 = 8,
  VMIMAGE_ERR_TOOL_NOT_FOUND = 9,
  VMIMAGE_ERR_TARBALL = 10,
  VMIMAGE_ERR_STORE_SAVE = 11,
  VMIMAGE_ERR_STORE_READ = 12,
  VMIMAGE_ERR_METADATA = 13,
  VMIMAGE_ERR_IMAGE_NOT_FOUND = 14,
  VMIMAGE_ERR_LAYER_FS = 15,
  VMIMAGE_ERR_IO = 16,
  VMIMAGE_ERR_INTERNAL = 17,
  VMIMAGE_ERR_CANCELLED = 18, /* a cancel token was cancelled; nothing was left behind */
  VMIMAGE_ERR_PUSH_IMAGE = 19
} vmimage_error_kind;

/* Filled by a failing call. Start zeroed (VMIMAGE_ERROR_INIT); a call that
 * fails frees the message a previous failure left. */
typedef struct vmimage_error {
  vmimage_error_kind kind;
  int sys_errno;  /* the errno of a failed system call, else 0 */
  char* message;  /* "<context>: <what failed>[: <strerror>]", owned: vmimage_error_clear */
} vmimage_error;
#define VMIMAGE_ERROR_INIT {VMIMAGE_OK, 0, NULL}

/* Frees the message and zeroes the error. */
VMIMAGE_API void vmimage_error_clear(vmimage_error* err);
/* "parse reference", "image not found", ... (static strings). */
VMIMAGE_API const char* vmimage_error_kind_name(vmimage_error_kind kind);
/* Frees a string the library returned through a char** parameter. */
VMIMAGE_API void vmimage_free(void* p);

/* --- Cancellation (the model's context) ------------------------------------ */
typedef struct vmimage_cancel_token vmimage_cancel_token;
VMIMAGE_API vmimage_cancel_token* vmimage_cancel_token_new(void); /* NULL: out of memory */
/* Async-signal-safe. Calls that hold the token stop at their next check and
 * fail with VMIMAGE_ERR_CANCELLED; a token stays cancelled. */
VMIMAGE_API void vmimage_cancel_token_cancel(vmimage_cancel_token* token);
VMIMAGE_API int vmimage_cancel_token_cancelled(const vmimage_cancel_token* token);
VMIMAGE_API void vmimage_cancel_token_free(vmimage_cancel_token* token);

/* --- Build options ------------------------------------------------------------ */
typedef struct vmimage_build_options vmimage_build_options;
VMIMAGE_API vmimage_build_options* vmimage_build_options_new(void); /* NULL: out of memory */
VMIMAGE_API void vmimage_build_options_free(vmimage_build_options* options);
/* Sets one option by the name of its `vmimage pull` flag:
 *   "cache-dir" DIR         the store (default: $VMIMAGE_CACHE_DIR, $XDG_CACHE_HOME/vmimage, ...)
 *   "force" true|false      skip the local scope and the registry cache
 *   "platform" os/arch[/variant]
 *   "layout" squashed|layered|auto:N
 *   "fs" erofs|ext4         the runtime lowers' filesystem
 *   "jobs" N                layers fetched and converted at once (pushed at once by vmimage_push)
 *   "insecure-registry" HOST[:PORT]   plain HTTP (repeatable: each call adds one)
 *   "ca-file" PEM
 *   "limit" NAME=VALUE[,NAME=VALUE]   see `vmimage limits`
 *   "converted-repo" REPO   look there for a converted image first (docs/fleet.md)
 *   "publish" true|false    with converted-repo: publish what was converted here
 *   "verity" true|false     every blob ends with a dm-verity tree (docs/verity.md);
 *                           each layer's JSON then has a "verity" object; unset:
 *                           the store's default (vmimage config verity)
 * Unknown names and bad values fail with VMIMAGE_ERR_USAGE. */
VMIMAGE_API vmimage_error_kind vmimage_build_options_set(vmimage_build_options* options,
                                                         const char* name, const char* value,
                                                         vmimage_error* err);

/* Progress of a build or import, per layer (BuildEvent of builder.h). */
typedef enum vmimage_event_kind {
  VMIMAGE_EVENT_RESOLVED = 0,   /* manifest read: total = layer's compressed size */
  VMIMAGE_EVENT_CACHED = 1,     /* the layer's blob is in the store already */
  VMIMAGE_EVENT_BYTES = 2,      /* done of total compressed bytes received */
  VMIMAGE_EVENT_CONVERTING = 3, /* stream finished, the filesystem is being completed */
  VMIMAGE_EVENT_DONE = 4,       /* the layer's blob is stored */
  VMIMAGE_EVENT_SQUASHING = 5,  /* index -1: writing the squashed lower */
  VMIMAGE_EVENT_SAVED = 6,      /* index -1: the image is recorded; digest = manifest digest */
  VMIMAGE_EVENT_WARNING = 7,    /* a problem that left the layer usable; message says what */
  VMIMAGE_EVENT_CHECKING = 8,   /* an EROFS layer (pulled converted) is whole; being checked */
  VMIMAGE_EVENT_FOUND_CONVERTED = 9, /* index -1: digest = a converted image, pulled instead */
  VMIMAGE_EVENT_PUBLISHED = 10  /* index -1: digest = the converted image published */
} vmimage_event_kind;

/* Valid during the callback only. Later versions may add fields at the end. */
typedef struct vmimage_build_event {
  vmimage_event_kind kind;
  int index; /* layer index (0 = base), or -1 */
  const char* digest;
  uint64_t done;
  uint64_t total;
  const char* message;
} vmimage_build_event;
typedef void (*vmimage_progress_fn)(void* user_data, const vmimage_build_event* event);
VMIMAGE_API void vmimage_build_options_set_progress(vmimage_build_options* options,
                                                    vmimage_progress_fn fn, void* user_data);

/* --- Store ------------------------------------------------------------------- */
typedef struct vmimage_store vmimage_store;

/* Which table of the store: tags a user made or imported, or the pull cache. */
typedef enum vmimage_scope { VMIMAGE_SCOPE_LOCAL = 0, VMIMAGE_SCOPE_REGISTRY = 1 } vmimage_scope;

typedef struct vmimage_gc_stats {
  uint64_t blobs_removed;
  uint64_t bytes_removed; /* blobs and temp files */
  uint64_t temp_files_removed;
  uint64_t leases_reaped; /* leases of processes that died */
} vmimage_gc_stats;

/* Opens (creating) the store at cache_dir; NULL or "" resolves as the CLI does. */
VMIMAGE_API vmimage_error_kind vmimage_store_open(const char* cache_dir, vmimage_store** out,
                                                  vmimage_error* err);
/* Closes a store from vmimage_store_open (a builder's store goes with it). */
VMIMAGE_API void vmimage_store_free(vmimage_store* store);
/* Borrowed: valid while the store is. */
VMIMAGE_API const char* vmimage_store_cache_root(const vmimage_store* store);
/* Where the blob `digest` of fs_type "erofs" (NULL) or "ext4" is or would be. */
VMIMAGE_API vmimage_error_kind vmimage_store_blob_path(vmimage_store* store, const char* digest,
                                                       const char* fs_type, char** path,
                                                       vmimage_error* err);
/* The image tagged `tag` in `scope` as a build result document. */
VMIMAGE_API vmimage_error_kind vmimage_store_get(vmimage_store* store, vmimage_scope scope,
                                                 const char* tag, char** result_json,
                                                 vmimage_error* err);
/* `vmimage inspect REF`: REF as given or normalized, local scope first. */
VMIMAGE_API vmimage_error_kind vmimage_store_inspect(vmimage_store* store, const char* ref,
                                                     char** image_json, vmimage_error* err);
/* The images of `scope`: a JSON array of image info documents. */
VMIMAGE_API vmimage_error_kind vmimage_store_list(vmimage_store* store, vmimage_scope scope,
                                                  char** list_json, vmimage_error* err);
/* Records `tag` in `scope` with the blobs of layers_json (an array of layer
 * documents; digest and fs_type are read, every blob must be in the store)
 * and meta_json (an image meta document). Replaces an existing tag. */
VMIMAGE_API vmimage_error_kind vmimage_store_save(vmimage_store* store, vmimage_scope scope,
                                                  const char* tag, const char* layers_json,
                                                  const char* meta_json, vmimage_error* err);
/* A local tag `dst` for the image `src` resolves to. */
VMIMAGE_API vmimage_error_kind vmimage_store_tag(vmimage_store* store, const char* src,
                                                 const char* dst, vmimage_error* err);
/* Removes a tag and prunes the blobs left unreferenced (pruned may be NULL). */
VMIMAGE_API vmimage_error_kind vmimage_store_remove(vmimage_store* store, vmimage_scope scope,
                                                    const char* tag, vmimage_gc_stats* pruned,
                                                    vmimage_error* err);
/* Removes unreferenced blobs, temp files and dead leases (stats may be NULL). */
VMIMAGE_API vmimage_error_kind vmimage_store_gc(vmimage_store* store, vmimage_gc_stats* stats,
                                                vmimage_error* err);
/* `vmimage du`: the store's disk usage as a JSON document (docs/embedding.md). */
VMIMAGE_API vmimage_error_kind vmimage_store_du(vmimage_store* store, char** usage_json,
                                                vmimage_error* err);
/* `vmimage verify`: re-hashes the blobs of the `count` tags (every blob when
 * count is 0) against the store's records. Problems found are not an error:
 * report_json lists them (blobs_checked, bytes_checked, problems). */
VMIMAGE_API vmimage_error_kind vmimage_store_verify(vmimage_store* store,
                                                    const char* const* tags, size_t count,
                                                    char** report_json, vmimage_error* err);

/* --- Builder ----------------------------------------------------------------- */
typedef struct vmimage_builder vmimage_builder;

/* options may be NULL (defaults); it is copied, so it may be freed afterwards. */
VMIMAGE_API vmimage_error_kind vmimage_builder_new(const vmimage_build_options* options,
                                                   vmimage_builder** out, vmimage_error* err);
VMIMAGE_API void vmimage_builder_free(vmimage_builder* builder);
/* The builder's store: borrowed, valid while the builder is (do not free). */
VMIMAGE_API vmimage_store* vmimage_builder_store(vmimage_builder* builder);

/* `vmimage pull REF`: from the local scope, the registry cache or the
 * registry. cancel may be NULL. *result_json: a build result document. */
VMIMAGE_API vmimage_error_kind vmimage_builder_build(vmimage_builder* builder, const char* ref,
                                                     const vmimage_cancel_token* cancel,
                                                     char** result_json, vmimage_error* err);

/* `vmimage import`: an image archive (docker save, OCI archive; plain, gzip or
 * zstd) stored under `tag` in the local scope ("" or NULL: the names the
 * archive gives). archive_ref (may be NULL) picks one image of several. */
VMIMAGE_API vmimage_error_kind vmimage_builder_import_fd(vmimage_builder* builder, int fd,
                                                         const char* tag, const char* archive_ref,
                                                         const vmimage_cancel_token* cancel,
                                                         char** result_json, vmimage_error* err);
/* Reads up to `size` bytes into buf: returns how many, 0 at the end, -1 on an
 * error (with errno set). */
typedef int64_t (*vmimage_read_fn)(void* user_data, void* buf, size_t size);
VMIMAGE_API vmimage_error_kind vmimage_builder_import_read(vmimage_builder* builder,
                                                           vmimage_read_fn read, void* user_data,
                                                           const char* tag,
                                                           const char* archive_ref,
                                                           const vmimage_cancel_token* cancel,
                                                           char** result_json, vmimage_error* err);
/* An OCI image layout, or an unpacked docker save, in a directory. */
VMIMAGE_API vmimage_error_kind vmimage_builder_import_dir(vmimage_builder* builder,
                                                          const char* dir, const char* tag,
                                                          const char* archive_ref,
                                                          const vmimage_cancel_token* cancel,
                                                          char** result_json, vmimage_error* err);
/* A local tag for an image already built: result_json as a build returned it. */
VMIMAGE_API vmimage_error_kind vmimage_builder_save_tag(vmimage_builder* builder, const char* tag,
                                                        const char* result_json,
                                                        vmimage_error* err);

/* --- Export, upper disks, push -------------------------------------------------- */

/* `vmimage export REF OUTPUT --type fs_type`: fs_type "ext4" (NULL) or "erofs";
 * size_bytes 0 sizes an ext4 to fit, free_bytes then asks for that much
 * available once mounted. *report_json (may be NULL): {"path", "fs_type",
 * "size_bytes", "min_size_bytes"}, and "verity" (as inspect's) when the store's
 * default gives exports a dm-verity tree (vmimage config verity on). */
VMIMAGE_API vmimage_error_kind vmimage_export(vmimage_store* store, const char* ref,
                                              const char* output, const char* fs_type,
                                              uint64_t size_bytes, uint64_t free_bytes,
                                              char** report_json, vmimage_error* err);

/* `vmimage upper create OUTPUT --size SIZE`: uuid NULL/"" (derived), "random"
 * or a UUID; label may be NULL. *report_json (may be NULL): {"path",
 * "size_bytes", "uuid", "inodes"}. */
VMIMAGE_API vmimage_error_kind vmimage_upper_create(const char* output, uint64_t size_bytes,
                                                    const char* uuid, const char* label,
                                                    char** report_json, vmimage_error* err);

typedef enum vmimage_push_layout {
  VMIMAGE_PUSH_LAYERED = 0, /* one EROFS layer per OCI layer */
  VMIMAGE_PUSH_SQUASHED = 1 /* the one squashed lower */
} vmimage_push_layout;
/* `vmimage push SRC DEST`: registry options (insecure registries, CA file,
 * limits) come from `options` (may be NULL). *result_json (may be NULL):
 * {"reference", "digest", "layout", "config", "layers"}, and "index"
 * ({"reference", "digest", "size", "platforms"}) when the store held several
 * platforms of the source's index and they went up under an image index. */
VMIMAGE_API vmimage_error_kind vmimage_push(vmimage_store* store, const char* src,
                                            const char* dest, vmimage_push_layout layout,
                                            const vmimage_build_options* options,
                                            const vmimage_cancel_token* cancel,
                                            char** result_json, vmimage_error* err);

/* NOLINTEND(readability-identifier-naming,modernize-use-using,modernize-redundant-void-arg) */

#ifdef __cplusplus
}
#endif

#endif /* VMIMAGE_VMIMAGE_H */
