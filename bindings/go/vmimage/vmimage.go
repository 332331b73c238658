// Package image (import path vmimage, at bindings/go/vmimage) turns OCI/Docker images into boot-ready EROFS and ext4
// lowers for microVMs, in a local content-addressed store. It is cgo over
// libvmimage's C ABI (include/vmimage/vmimage.h), found through pkg-config
// (vmimage.pc); docs/embedding.md describes the library.
//
// The API is the model's image package, under the model's package name, so a
// program written against the model compiles with only its import path
// changed: NewBuilder, Build, Import, SaveTag, the Store and the
// registry-cache functions. vmimage's further operations
// (Push, Export, CreateUpper) are added beside them.
//
// A Builder or Store may be used from several goroutines: calls on one are
// serialized. Cancelling a call's context stops the work in the library,
// which then leaves the store as it was.
package image

// #cgo pkg-config: vmimage
// #include <stdlib.h>
// #include <vmimage/vmimage.h>
import "C"

import (
	"context"
	"sync"
	"unsafe"
)

// Version is the release of the loaded libvmimage.
func Version() string { return C.GoString(C.vmimage_version()) }

// cstring is a C copy of s for one call; free it with C.free.
func cstring(s string) *C.char { return C.CString(s) }

func freeAll(ptrs ...*C.char) {
	for _, p := range ptrs {
		C.free(unsafe.Pointer(p))
	}
}

// takeString returns the library's string and frees it.
func takeString(p *C.char) string {
	if p == nil {
		return ""
	}
	defer C.vmimage_free(unsafe.Pointer(p))
	return C.GoString(p)
}

// canceller owns a C cancel token that goroutines may cancel until it is freed.
type canceller struct {
	mu    sync.Mutex
	token *C.vmimage_cancel_token
}

func (c *canceller) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != nil {
		C.vmimage_cancel_token_cancel(c.token)
	}
}

func (c *canceller) free() {
	c.mu.Lock()
	defer c.mu.Unlock()
	C.vmimage_cancel_token_free(c.token)
	c.token = nil
}

// withContext runs f with a cancel token that ctx's cancellation cancels (and
// that runs onCancel, if set), and returns f's error.
func withContext(ctx context.Context, onCancel func(),
	f func(c *canceller, token *C.vmimage_cancel_token, cerr *C.vmimage_error) C.vmimage_error_kind) error {
	c := &canceller{token: C.vmimage_cancel_token_new()}
	defer c.free()
	if ctx.Err() != nil {
		c.cancel()
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			c.cancel()
			if onCancel != nil {
				onCancel()
			}
		case <-done:
		}
	}()
	var cerr C.vmimage_error
	code := f(c, c.token, &cerr)
	return errorOf(ctx, code, &cerr)
}

// call runs a C function that cannot be cancelled and returns its error.
func call(f func(cerr *C.vmimage_error) C.vmimage_error_kind) error {
	var cerr C.vmimage_error
	return errorOf(nil, f(&cerr), &cerr)
}
