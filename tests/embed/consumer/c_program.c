/* A C99 program against the installed C ABI (vmimage.h): opens a store in
 * DIR, imports ARCHIVE as TAG (watching progress), lists, tags, reads the
 * images back, checks the error kinds of a missing image and of a cancelled
 * build, removes both tags and collects garbage. Exit 0 when every step did
 * what the ABI documents. Usage: c_program DIR ARCHIVE TAG */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vmimage/vmimage.h>

static int failures = 0;

static void check(int ok, const char* what, const vmimage_error* err) {
  if (ok) return;
  fprintf(stderr, "FAIL: %s%s%s\n", what, err && err->message ? ": " : "",
          err && err->message ? err->message : "");
  failures++;
}

/* The read callback: the archive through a FILE*. */
static int64_t read_file(void* user_data, void* buf, size_t size) {
  size_t n = fread(buf, 1, size, (FILE*)user_data);
  return n == 0 && ferror((FILE*)user_data) ? -1 : (int64_t)n;
}

static void on_event(void* user_data, const vmimage_build_event* event) {
  int* events = (int*)user_data;
  if (event->kind == VMIMAGE_EVENT_DONE || event->kind == VMIMAGE_EVENT_CACHED) (*events)++;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s DIR ARCHIVE TAG\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1], *archive = argv[2], *tag = argv[3];
  vmimage_error err = VMIMAGE_ERROR_INIT;
  check(strcmp(vmimage_version(), VMIMAGE_VERSION) == 0, "runtime version = header version", 0);
  check(vmimage_abi_version() == VMIMAGE_ABI_VERSION, "ABI version", 0);

  vmimage_build_options* options = vmimage_build_options_new();
  check(vmimage_build_options_set(options, "cache-dir", dir, &err) == VMIMAGE_OK, "cache-dir", &err);
  check(vmimage_build_options_set(options, "layout", "layered", &err) == VMIMAGE_OK, "layout", &err);
  check(vmimage_build_options_set(options, "no-such-option", "1", &err) == VMIMAGE_ERR_USAGE &&
            err.kind == VMIMAGE_ERR_USAGE && err.message != NULL,
        "an unknown option is a usage error", 0);
  int events = 0;
  vmimage_build_options_set_progress(options, on_event, &events);
  vmimage_builder* builder = NULL;
  if (vmimage_builder_new(options, &builder, &err) != VMIMAGE_OK) {
    check(0, "vmimage_builder_new", &err);
    return 1;
  }
  vmimage_build_options_free(options);

  int fd = open(archive, O_RDONLY);
  char* result = NULL;
  check(vmimage_builder_import_fd(builder, fd, tag, NULL, NULL, &result, &err) == VMIMAGE_OK,
        "import", &err);
  close(fd);
  check(result != NULL && strstr(result, "\"lower_paths\"") != NULL, "import result JSON", 0);
  check(events > 0, "progress events", 0);
  printf("import: %s\n", result ? result : "(none)");

  check(vmimage_builder_save_tag(builder, "c-copy:v1", result, &err) == VMIMAGE_OK, "save_tag", &err);

  /* The same archive through the read callback: the same image, its blobs shared. */
  FILE* file = fopen(archive, "rb");
  char* again = NULL;
  check(vmimage_builder_import_read(builder, read_file, file, "c-read:v1", NULL, NULL, &again,
                                    &err) == VMIMAGE_OK,
        "import_read", &err);
  fclose(file);
  check(again != NULL && result != NULL &&
            strncmp(strstr(again, "\"digest\""), strstr(result, "\"digest\""), 80) == 0,
        "import_read gives the same digest", 0);
  vmimage_free(again);
  vmimage_free(result);

  vmimage_store* store = vmimage_builder_store(builder);
  check(strncmp(vmimage_store_cache_root(store), dir, strlen(dir)) == 0, "cache root", 0);
  char* list = NULL;
  check(vmimage_store_list(store, VMIMAGE_SCOPE_LOCAL, &list, &err) == VMIMAGE_OK, "list", &err);
  check(list && strstr(list, tag) && strstr(list, "c-copy:v1") && strstr(list, "c-read:v1"),
        "the three tags listed", 0);
  printf("list: %s\n", list ? list : "(none)");
  vmimage_free(list);

  char* got = NULL;
  check(vmimage_store_get(store, VMIMAGE_SCOPE_LOCAL, "c-copy:v1", &got, &err) == VMIMAGE_OK,
        "get", &err);
  vmimage_free(got);
  check(vmimage_store_get(store, VMIMAGE_SCOPE_LOCAL, "missing:v1", &got, &err) ==
                VMIMAGE_ERR_IMAGE_NOT_FOUND &&
            strcmp(vmimage_error_kind_name(err.kind), "image not found") == 0,
        "a missing image is VMIMAGE_ERR_IMAGE_NOT_FOUND", 0);

  char* inspected = NULL;
  check(vmimage_store_inspect(store, "c-read:v1", &inspected, &err) == VMIMAGE_OK &&
            strstr(inspected, "\"scope\":\"local\"") && strstr(inspected, "\"source\":\"import\""),
        "inspect", &err);
  check(strstr(inspected, "\"origin\":\"converted\"") != NULL, "inspect names each lower's origin", 0);
  vmimage_free(inspected);

  char* usage = NULL;
  check(vmimage_store_du(store, &usage, &err) == VMIMAGE_OK && strstr(usage, "\"unreferenced_bytes\"") &&
            strstr(usage, "c-read:v1"),
        "du", &err);
  vmimage_free(usage);
  char* report = NULL;
  const char* verify_tags[] = {"c-read:v1"};
  check(vmimage_store_verify(store, verify_tags, 1, &report, &err) == VMIMAGE_OK &&
            strstr(report, "\"problems\":[]") && !strstr(report, "\"blobs_checked\":0"),
        "verify", &err);
  vmimage_free(report);
  check(vmimage_store_verify(store, NULL, 1, &report, &err) == VMIMAGE_ERR_USAGE,
        "verify with NULL tags is a usage error", 0);

  vmimage_cancel_token* cancel = vmimage_cancel_token_new();
  vmimage_cancel_token_cancel(cancel);
  check(vmimage_builder_build(builder, "127.0.0.1:9/none:v1", cancel, &got, &err) ==
            VMIMAGE_ERR_CANCELLED,
        "a cancelled build is VMIMAGE_ERR_CANCELLED", &err);
  vmimage_cancel_token_free(cancel);

  vmimage_gc_stats stats;
  check(vmimage_store_remove(store, VMIMAGE_SCOPE_LOCAL, "c-copy:v1", &stats, &err) == VMIMAGE_OK &&
            stats.blobs_removed == 0 &&
            vmimage_store_remove(store, VMIMAGE_SCOPE_LOCAL, "c-read:v1", &stats, &err) ==
                VMIMAGE_OK &&
            stats.blobs_removed == 0,
        "removing two of three tags keeps the blobs", &err);
  check(vmimage_store_remove(store, VMIMAGE_SCOPE_LOCAL, tag, &stats, &err) == VMIMAGE_OK &&
            stats.blobs_removed > 0,
        "removing the last tag prunes its blobs", &err);
  printf("pruned %llu blobs\n", (unsigned long long)stats.blobs_removed);
  check(vmimage_store_gc(store, &stats, &err) == VMIMAGE_OK, "gc", &err);
  check(vmimage_store_list(store, VMIMAGE_SCOPE_LOCAL, &list, &err) == VMIMAGE_OK &&
            strcmp(list, "[]") == 0,
        "the store is empty again", &err);
  vmimage_free(list);
  vmimage_builder_free(builder);
  vmimage_error_clear(&err);
  if (failures == 0) printf("c_program: PASS\n");
  return failures == 0 ? 0 : 1;
}
