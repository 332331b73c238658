// The C ABI (include/vmimage/vmimage.h): each function converts its arguments,
// calls the same library functions the CLI calls, and turns the Result into an
// error kind and a message. No exception crosses it: every body runs in guard().
#include "vmimage/vmimage.h"

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <new>
#include <optional>

#include "builder/export.h"
#include "builder/layer_store.h"
#include "builder/push.h"
#include "builder/registry_options.h"
#include "fs/ext4/upper.h"
#include "store/find_image.h"
#include "store/image_json.h"
#include "vmimage/builder.h"
#include "vmimage/limits.h"
#include "vmimage/store.h"

struct vmimage_cancel_token {
  vmimage::CancelToken token;
};

struct vmimage_build_options {
  vmimage::BuildOptions options;
};

struct vmimage_store {
  std::optional<vmimage::Store> owned;  // empty: a builder's store
  vmimage::Store* store = nullptr;
};

struct vmimage_builder {
  explicit vmimage_builder(vmimage::Builder b) : builder(std::move(b)) {
    store.store = &builder.store();
  }
  vmimage::Builder builder;
  vmimage_store store;
};

namespace vmimage {
namespace {

using store_json::Json;

vmimage_error_kind kind_of(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUsage:
      return VMIMAGE_ERR_USAGE;
    case ErrorKind::kParseReference:
      return VMIMAGE_ERR_PARSE_REFERENCE;
    case ErrorKind::kPullImage:
      return VMIMAGE_ERR_PULL_IMAGE;
    case ErrorKind::kImageDigest:
      return VMIMAGE_ERR_IMAGE_DIGEST;
    case ErrorKind::kCreateDir:
      return VMIMAGE_ERR_CREATE_DIR;
    case ErrorKind::kCreateTemp:
      return VMIMAGE_ERR_CREATE_TEMP;
    case ErrorKind::kExtract:
      return VMIMAGE_ERR_EXTRACT;
    case ErrorKind::kCreateExt4:
      return VMIMAGE_ERR_CREATE_EXT4;
    case ErrorKind::kToolNotFound:
      return VMIMAGE_ERR_TOOL_NOT_FOUND;
    case ErrorKind::kTarball:
      return VMIMAGE_ERR_TARBALL;
    case ErrorKind::kStoreSave:
      return VMIMAGE_ERR_STORE_SAVE;
    case ErrorKind::kStoreRead:
      return VMIMAGE_ERR_STORE_READ;
    case ErrorKind::kMetadata:
      return VMIMAGE_ERR_METADATA;
    case ErrorKind::kImageNotFound:
      return VMIMAGE_ERR_IMAGE_NOT_FOUND;
    case ErrorKind::kLayerFs:
      return VMIMAGE_ERR_LAYER_FS;
    case ErrorKind::kIo:
      return VMIMAGE_ERR_IO;
    case ErrorKind::kInternal:
      return VMIMAGE_ERR_INTERNAL;
    case ErrorKind::kCancelled:
      return VMIMAGE_ERR_CANCELLED;
    case ErrorKind::kPushImage:
      return VMIMAGE_ERR_PUSH_IMAGE;
  }
  return VMIMAGE_ERR_INTERNAL;  // -Wswitch names a kind added without a C value
}

// A malloc'd copy (vmimage_free); throws std::bad_alloc, which guard() reports.
char* copy_string(std::string_view text) {
  auto* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (out == nullptr) throw std::bad_alloc();
  std::memcpy(out, text.data(), text.size());
  out[text.size()] = '\0';
  return out;
}

vmimage_error_kind fail(vmimage_error* err, const Error& error) {
  vmimage_error_kind kind = kind_of(error.kind());
  if (err != nullptr) {
    std::free(err->message);
    err->kind = kind;
    err->sys_errno = error.sys_errno();
    err->message = strdup(error.describe().c_str());  // NULL only when out of memory
  }
  return kind;
}

template <typename F>
vmimage_error_kind guard(vmimage_error* err, F&& body) {
  try {
    Status status = body();
    return status.ok() ? VMIMAGE_OK : fail(err, status.error());
  } catch (const std::bad_alloc&) {
    return fail(err, Error(ErrorKind::kInternal, "out of memory"));
  } catch (const std::exception& e) {
    return fail(err, Error(ErrorKind::kInternal, e.what()));
  } catch (...) {
    return fail(err, Error(ErrorKind::kInternal, "unknown exception"));
  }
}

// The int a C caller passed as one of the ABI's enums. C allows any int
// there; C++ does not allow loading an enum outside its range, so the value
// is read as the int it is.
template <typename CEnum>
int c_int(CEnum value) {
  static_assert(sizeof(CEnum) == sizeof(int));
  int v = 0;
  std::memcpy(&v, &value, sizeof v);
  return v;
}

Status required(const void* arg, const char* name) {
  if (arg != nullptr) return {};
  return Error(ErrorKind::kUsage, std::string(name) + " must not be NULL");
}

std::string_view text(const char* s) {
  return s != nullptr ? s : "";
}

// Writes the document to *out, when the caller asked for it.
Status put_json(char** out, const Json& doc) {
  if (out == nullptr) return {};
  VMI_TRY(std::string text, store_json::dump(doc));
  *out = copy_string(text);
  return {};
}

void put_stats(vmimage_gc_stats* out, const GcStats& stats) {
  if (out == nullptr) return;
  out->blobs_removed = stats.blobs_removed;
  out->bytes_removed = stats.bytes_removed;
  out->temp_files_removed = stats.temp_files_removed;
  out->leases_reaped = stats.leases_reaped;
}

Result<Scope> scope_of(vmimage_scope scope) {
  int value = c_int(scope);
  if (value == VMIMAGE_SCOPE_LOCAL) return Scope::kLocal;
  if (value == VMIMAGE_SCOPE_REGISTRY) return Scope::kRegistry;
  return Error(ErrorKind::kUsage, "unknown scope " + std::to_string(value));
}

CancelToken token_of(const vmimage_cancel_token* cancel) {
  return cancel != nullptr ? cancel->token : CancelToken();
}

ImportOptions import_options(const char* archive_ref) {
  ImportOptions options;
  if (archive_ref != nullptr && *archive_ref != '\0') options.ref = archive_ref;
  return options;
}

Result<bool> parse_bool(std::string_view name, std::string_view value) {
  if (value == "true" || value == "1") return true;
  if (value == "false" || value == "0") return false;
  return Error(ErrorKind::kUsage,
               std::string(name) + " takes true or false, not \"" + std::string(value) + "\"");
}

Status set_option(BuildOptions& o, std::string_view name, std::string_view value) {
  if (name == "cache-dir") {
    o.cache_dir = value;
  } else if (name == "force") {
    VMI_TRY(o.force_pull, parse_bool(name, value));
  } else if (name == "platform") {
    o.platform = value;
  } else if (name == "layout") {
    VMI_TRY(o.layout, parse_layout(value));
  } else if (name == "fs") {
    std::optional<FsType> fs = parse_fs_type(value);
    if (!fs)
      return Error(ErrorKind::kLayerFs, "unknown layer filesystem '" + std::string(value) +
                                            "' (expected erofs or ext4)");
    o.fs_type = *fs;
  } else if (name == "jobs") {
    int jobs = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), jobs);
    if (ec != std::errc() || end != value.data() + value.size() || jobs < 1 || jobs > 64) {
      return Error(ErrorKind::kUsage, "jobs takes 1 to 64, not \"" + std::string(value) + "\"");
    }
    o.jobs = jobs;
  } else if (name == "insecure-registry") {
    o.insecure_registries.emplace_back(value);
  } else if (name == "ca-file") {
    o.ca_file = value;
  } else if (name == "limit") {
    VMI_CHECK(apply_limits(o.limits, value));
  } else if (name == "converted-repo") {
    o.converted_repo = value;
  } else if (name == "publish") {
    VMI_TRY(o.publish_converted, parse_bool(name, value));
  } else if (name == "verity") {
    VMI_TRY(o.verity, parse_bool(name, value));
  } else {
    return Error(ErrorKind::kUsage, "unknown build option \"" + std::string(name) + "\"");
  }
  return {};
}

BuildEvents progress_events(vmimage_progress_fn fn, void* user_data) {
  if (fn == nullptr) return {};
  return [fn, user_data](const BuildEvent& e) {
    vmimage_build_event event{};
    event.kind = static_cast<vmimage_event_kind>(e.kind);
    event.index = e.index;
    event.digest = e.digest.c_str();
    event.done = e.done;
    event.total = e.total;
    event.message = e.message.c_str();
    fn(user_data, &event);
  };
}
static_assert(static_cast<int>(BuildEvent::Kind::kWarning) == VMIMAGE_EVENT_WARNING &&
                  static_cast<int>(BuildEvent::Kind::kResolved) == VMIMAGE_EVENT_RESOLVED &&
                  static_cast<int>(BuildEvent::Kind::kPublished) == VMIMAGE_EVENT_PUBLISHED,
              "vmimage_event_kind mirrors BuildEvent::Kind");

Status put_result(char** out, const Result<BuildResult>& result) {
  if (!result) return result.error();
  return put_json(out, store_json::build_result_json(*result));
}

}  // namespace
}  // namespace vmimage

using namespace vmimage;  // NOLINT(google-build-using-namespace): the ABI's definitions

extern "C" {

const char* vmimage_version(void) {
  return VMIMAGE_VERSION;
}
int vmimage_abi_version(void) {
  return VMIMAGE_ABI_VERSION;
}

void vmimage_error_clear(vmimage_error* err) {
  if (err == nullptr) return;
  std::free(err->message);
  *err = vmimage_error{VMIMAGE_OK, 0, nullptr};
}

const char* vmimage_error_kind_name(vmimage_error_kind kind) {
  static const ErrorKind kKinds[] = {
      ErrorKind::kUsage,       ErrorKind::kParseReference, ErrorKind::kPullImage,
      ErrorKind::kImageDigest, ErrorKind::kCreateDir,      ErrorKind::kCreateTemp,
      ErrorKind::kExtract,     ErrorKind::kCreateExt4,     ErrorKind::kToolNotFound,
      ErrorKind::kTarball,     ErrorKind::kStoreSave,      ErrorKind::kStoreRead,
      ErrorKind::kMetadata,    ErrorKind::kImageNotFound,  ErrorKind::kLayerFs,
      ErrorKind::kIo,          ErrorKind::kInternal,       ErrorKind::kCancelled,
      ErrorKind::kPushImage};
  int value = c_int(kind);
  if (value == VMIMAGE_OK) return "ok";
  for (ErrorKind k : kKinds) {
    // error_kind_name's views are of string literals: NUL-terminated.
    if (kind_of(k) == value) return error_kind_name(k).data();
  }
  return "unknown";
}

void vmimage_free(void* p) {
  std::free(p);
}

vmimage_cancel_token* vmimage_cancel_token_new(void) {
  return new (std::nothrow) vmimage_cancel_token();
}
void vmimage_cancel_token_cancel(vmimage_cancel_token* token) {
  if (token != nullptr) token->token.cancel();
}
int vmimage_cancel_token_cancelled(const vmimage_cancel_token* token) {
  return token != nullptr && token->token.cancelled() ? 1 : 0;
}
void vmimage_cancel_token_free(vmimage_cancel_token* token) {
  delete token;
}

vmimage_build_options* vmimage_build_options_new(void) {
  return new (std::nothrow) vmimage_build_options();
}
void vmimage_build_options_free(vmimage_build_options* options) {
  delete options;
}

vmimage_error_kind vmimage_build_options_set(vmimage_build_options* options, const char* name,
                                             const char* value, vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(options, "options"));
    VMI_CHECK(required(name, "name"));
    VMI_CHECK(required(value, "value"));
    return set_option(options->options, name, value);
  });
}

void vmimage_build_options_set_progress(vmimage_build_options* options, vmimage_progress_fn fn,
                                        void* user_data) {
  if (options != nullptr) options->options.events = progress_events(fn, user_data);
}

vmimage_error_kind vmimage_store_open(const char* cache_dir, vmimage_store** out,
                                      vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(out, "out"));
    VMI_TRY(Store store, Store::open(text(cache_dir)));
    auto handle = std::make_unique<vmimage_store>();
    handle->owned.emplace(std::move(store));
    handle->store = &*handle->owned;
    *out = handle.release();
    return {};
  });
}

void vmimage_store_free(vmimage_store* store) {
  if (store != nullptr && store->owned) delete store;
}

const char* vmimage_store_cache_root(const vmimage_store* store) {
  return store != nullptr ? store->store->cache_root().c_str() : nullptr;
}

vmimage_error_kind vmimage_store_blob_path(vmimage_store* store, const char* digest,
                                           const char* fs_type, char** path, vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(store, "store"));
    VMI_CHECK(required(path, "path"));
    std::optional<FsType> type = parse_fs_type(fs_type != nullptr ? fs_type : "erofs");
    if (!type)
      return Error(ErrorKind::kLayerFs, "unknown fs type \"" + std::string(text(fs_type)) + "\"");
    VMI_TRY(std::string blob, store->store->blob_path(text(digest), *type));
    *path = copy_string(blob);
    return {};
  });
}

vmimage_error_kind vmimage_store_get(vmimage_store* store, vmimage_scope scope, const char* tag,
                                     char** result_json, vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(store, "store"));
    VMI_TRY(Scope s, scope_of(scope));
    VMI_TRY(StoredImage image, store->store->find(s, text(tag)));
    return put_json(result_json, store_json::build_result_json(image.result));
  });
}

vmimage_error_kind vmimage_store_inspect(vmimage_store* store, const char* ref, char** image_json,
                                         vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(store, "store"));
    VMI_TRY(FoundImage found, find_image(*store->store, text(ref)));
    VMI_TRY(store_json::Json doc, store_json::inspect_json(found.image, *store->store));
    return put_json(image_json, doc);
  });
}

vmimage_error_kind vmimage_store_list(vmimage_store* store, vmimage_scope scope, char** list_json,
                                      vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(store, "store"));
    VMI_TRY(Scope s, scope_of(scope));
    VMI_TRY(std::vector<ImageInfo> images, store->store->list(s));
    Json out = Json::array();
    for (const ImageInfo& info : images) out.push_back(store_json::image_info_json(info));
    return put_json(list_json, out);
  });
}

vmimage_error_kind vmimage_store_save(vmimage_store* store, vmimage_scope scope, const char* tag,
                                      const char* layers_json, const char* meta_json,
                                      vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(store, "store"));
    VMI_TRY(Scope s, scope_of(scope));
    ImageLayers layers;
    VMI_TRY(layers.canonical, store_json::layers_from_json(text(layers_json)));
    ImageMeta meta;
    if (meta_json != nullptr) {
      VMI_TRY(meta, store_json::meta_from_json(meta_json));
    }
    if (meta.tag.empty()) meta.tag = text(tag);
    return store->store->save(s, text(tag), layers, meta);
  });
}

vmimage_error_kind vmimage_store_tag(vmimage_store* store, const char* src, const char* dst,
                                     vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(store, "store"));
    return store->store->tag(text(src), text(dst));
  });
}

vmimage_error_kind vmimage_store_remove(vmimage_store* store, vmimage_scope scope, const char* tag,
                                        vmimage_gc_stats* pruned, vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(store, "store"));
    VMI_TRY(Scope s, scope_of(scope));
    VMI_TRY(GcStats stats, store->store->remove(s, text(tag)));
    put_stats(pruned, stats);
    return {};
  });
}

vmimage_error_kind vmimage_store_du(vmimage_store* store, char** usage_json, vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(store, "store"));
    VMI_TRY(DiskUsage usage, store->store->disk_usage());
    return put_json(usage_json, store_json::disk_usage_json(usage));
  });
}

vmimage_error_kind vmimage_store_verify(vmimage_store* store, const char* const* tags, size_t count,
                                        char** report_json, vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(store, "store"));
    if (count > 0 && tags == nullptr) return Error(ErrorKind::kUsage, "tags is NULL");
    std::vector<std::string> names;
    for (size_t i = 0; i < count; ++i) {
      if (tags[i] == nullptr) return Error(ErrorKind::kUsage, "a tag is NULL");
      names.emplace_back(tags[i]);
    }
    VMI_TRY(VerifyReport report, store->store->verify(names));
    return put_json(report_json, store_json::verify_report_json(report));
  });
}

vmimage_error_kind vmimage_store_gc(vmimage_store* store, vmimage_gc_stats* stats,
                                    vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(store, "store"));
    VMI_TRY(GcStats removed, store->store->gc());
    put_stats(stats, removed);
    return {};
  });
}

vmimage_error_kind vmimage_builder_new(const vmimage_build_options* options, vmimage_builder** out,
                                       vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(out, "out"));
    VMI_TRY(Builder builder,
            Builder::create(options != nullptr ? options->options : BuildOptions{}));
    *out = new vmimage_builder(std::move(builder));
    return {};
  });
}

void vmimage_builder_free(vmimage_builder* builder) {
  delete builder;
}

vmimage_store* vmimage_builder_store(vmimage_builder* builder) {
  return builder != nullptr ? &builder->store : nullptr;
}

vmimage_error_kind vmimage_builder_build(vmimage_builder* builder, const char* ref,
                                         const vmimage_cancel_token* cancel, char** result_json,
                                         vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(builder, "builder"));
    return put_result(result_json, builder->builder.build(text(ref), token_of(cancel)));
  });
}

vmimage_error_kind vmimage_builder_import_fd(vmimage_builder* builder, int fd, const char* tag,
                                             const char* archive_ref,
                                             const vmimage_cancel_token* cancel, char** result_json,
                                             vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(builder, "builder"));
    return put_result(
        result_json,
        builder->builder.import_fd(fd, text(tag), import_options(archive_ref), token_of(cancel)));
  });
}

vmimage_error_kind vmimage_builder_import_read(vmimage_builder* builder, vmimage_read_fn read,
                                               void* user_data, const char* tag,
                                               const char* archive_ref,
                                               const vmimage_cancel_token* cancel,
                                               char** result_json, vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(builder, "builder"));
    VMI_CHECK(required(reinterpret_cast<const void*>(read), "read"));
    ReadFunction reader = [read, user_data](std::span<std::byte> buf) -> Result<size_t> {
      errno = 0;
      int64_t n = read(user_data, buf.data(), buf.size());
      if (n < 0) return sys_error(ErrorKind::kIo, "reading the archive (read callback)");
      if (static_cast<uint64_t>(n) > buf.size()) {
        return Error(ErrorKind::kUsage, "the read callback returned more bytes than asked for");
      }
      return static_cast<size_t>(n);
    };
    return put_result(
        result_json,
        builder->builder.import(reader, text(tag), import_options(archive_ref), token_of(cancel)));
  });
}

vmimage_error_kind vmimage_builder_import_dir(vmimage_builder* builder, const char* dir,
                                              const char* tag, const char* archive_ref,
                                              const vmimage_cancel_token* cancel,
                                              char** result_json, vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(builder, "builder"));
    VMI_CHECK(required(dir, "dir"));
    return put_result(
        result_json,
        builder->builder.import_dir(dir, text(tag), import_options(archive_ref), token_of(cancel)));
  });
}

vmimage_error_kind vmimage_builder_save_tag(vmimage_builder* builder, const char* tag,
                                            const char* result_json, vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(builder, "builder"));
    VMI_TRY(BuildResult result, store_json::build_result_from_json(text(result_json)));
    return builder->builder.save_tag(text(tag), result);
  });
}

vmimage_error_kind vmimage_export(vmimage_store* store, const char* ref, const char* output,
                                  const char* fs_type, uint64_t size_bytes, uint64_t free_bytes,
                                  char** report_json, vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(store, "store"));
    VMI_CHECK(required(output, "output"));
    builder::ExportOptions options;
    std::optional<FsType> type = parse_fs_type(fs_type != nullptr ? fs_type : "ext4");
    if (!type) {
      return Error(ErrorKind::kLayerFs, "unknown filesystem type '" + std::string(text(fs_type)) +
                                            "' (expected ext4 or erofs)");
    }
    options.type = *type;
    options.size_bytes = size_bytes;
    options.extra_free_bytes = free_bytes;
    VMI_TRY(FoundImage found, find_image(*store->store, text(ref)));
    VMI_TRY(bool verity, store->store->default_verity());
    if (verity) options.verity = builder::store_verity_salt();
    VMI_TRY(builder::ExportResult exported,
            builder::export_image(found.image.result, output, options));
    const ext4::Ext4Stats& stats = exported.stats;
    Json report = {{"path", output},
                   {"fs_type", fs_type_name(options.type)},
                   {"size_bytes", stats.size_bytes},
                   {"min_size_bytes", stats.min_size_bytes}};
    if (exported.verity) report["verity"] = store_json::verity_json(*exported.verity);
    return put_json(report_json, report);
  });
}

vmimage_error_kind vmimage_upper_create(const char* output, uint64_t size_bytes, const char* uuid,
                                        const char* label, char** report_json, vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(output, "output"));
    ext4::UpperOptions options;
    options.size_bytes = size_bytes;
    VMI_TRY(options.uuid, ext4::parse_upper_uuid(text(uuid)));
    options.label = text(label);
    VMI_TRY(ext4::Ext4Stats stats, ext4::create_upper(output, options));
    return put_json(report_json, {{"path", output},
                                  {"size_bytes", stats.size_bytes},
                                  {"uuid", stats.uuid},
                                  {"inodes", stats.inodes}});
  });
}

vmimage_error_kind vmimage_push(vmimage_store* store, const char* src, const char* dest,
                                vmimage_push_layout layout, const vmimage_build_options* options,
                                const vmimage_cancel_token* cancel, char** result_json,
                                vmimage_error* err) {
  return guard(err, [&]() -> Status {
    VMI_CHECK(required(store, "store"));
    builder::PushLayout push_layout;
    if (c_int(layout) == VMIMAGE_PUSH_LAYERED) {
      push_layout = builder::PushLayout::kLayered;
    } else if (c_int(layout) == VMIMAGE_PUSH_SQUASHED) {
      push_layout = builder::PushLayout::kSquashed;
    } else {
      return Error(ErrorKind::kUsage, "unknown push layout " + std::to_string(c_int(layout)));
    }
    VMI_TRY(auto client, registry::Client::create(builder::registry_options(
                             options != nullptr ? options->options : BuildOptions{})));
    CancelToken token = token_of(cancel);
    builder::PushOptions push;
    push.layout = push_layout;
    if (options != nullptr) push.jobs = options->options.jobs;
    VMI_TRY(builder::PushResult pushed, builder::push_stored(*store->store, text(src), text(dest),
                                                             *client, push, token.flag()));
    return put_json(result_json, builder::push_result_json(pushed, push));
  });
}

}  // extern "C"
