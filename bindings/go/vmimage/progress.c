// The C side of BuildOptions.Progress: a vmimage_progress_fn that passes
// each event to the Go function its user_data (a cgo.Handle) names.
#include <stdint.h>

#include "_cgo_export.h"

void vmimage_go_progress(void* user_data, const vmimage_build_event* event) {
  vmimageGoProgress((uintptr_t)user_data, (vmimage_build_event*)event);
}

void vmimage_go_set_progress(vmimage_build_options* options, uintptr_t handle) {
  vmimage_build_options_set_progress(options, vmimage_go_progress, (void*)handle);
}
