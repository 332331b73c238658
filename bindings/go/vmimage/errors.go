package image

// #include <vmimage/vmimage.h>
import "C"

import (
	"context"
	"errors"
	"fmt"
	"syscall"
)

// The model's sentinels: every error the library returns matches exactly one
// of these (or of vmimage's own below) with errors.Is.
var (
	ErrParseReference = errors.New("parse reference")
	ErrPullImage      = errors.New("pull image")
	ErrImageDigest    = errors.New("image digest")
	ErrCreateDir      = errors.New("create dir")
	ErrCreateTemp     = errors.New("create temp")
	ErrExtract        = errors.New("extract")
	ErrCreateExt4     = errors.New("create ext4")
	ErrToolNotFound   = errors.New("tool not found")
	ErrTarball        = errors.New("tarball")
	ErrStoreSave      = errors.New("store save")
	ErrStoreRead      = errors.New("store read")
	ErrMetadata       = errors.New("metadata")
	ErrImageNotFound  = errors.New("image not found")
	ErrLayerFS        = errors.New("layer fs")
)

// vmimage's own kinds. A call whose context was cancelled also matches
// ctx.Err() (context.Canceled or context.DeadlineExceeded).
var (
	ErrUsage     = errors.New("usage")
	ErrIO        = errors.New("i/o")
	ErrInternal  = errors.New("internal")
	ErrCancelled = errors.New("cancelled")
	ErrPushImage = errors.New("push image")
)

// The C ABI's vmimage_error_kind values, in order from 1.
var sentinels = []error{
	nil, ErrUsage, ErrParseReference, ErrPullImage, ErrImageDigest, ErrCreateDir, ErrCreateTemp,
	ErrExtract, ErrCreateExt4, ErrToolNotFound, ErrTarball, ErrStoreSave, ErrStoreRead,
	ErrMetadata, ErrImageNotFound, ErrLayerFS, ErrIO, ErrInternal, ErrCancelled, ErrPushImage,
}

// Error is a failure reported by the library: its kind (one of the Err
// sentinels), the message with context, and the errno of a failed system call.
type Error struct {
	Kind    error
	Message string
	Errno   syscall.Errno
	cause   error // ctx.Err() when the context cancelled the call
}

func (e *Error) Error() string { return fmt.Sprintf("vmimage: %v: %s", e.Kind, e.Message) }

// Unwrap gives the kind's sentinel.
func (e *Error) Unwrap() error { return e.Kind }

// Is matches the context's error too, for a call its context cancelled.
func (e *Error) Is(target error) bool {
	return target == e.Kind || (e.cause != nil && errors.Is(e.cause, target))
}

// errorOf turns a C result into an error (nil for VMIMAGE_OK) and clears cerr.
func errorOf(ctx context.Context, code C.vmimage_error_kind, cerr *C.vmimage_error) error {
	defer C.vmimage_error_clear(cerr)
	if code == C.VMIMAGE_OK {
		return nil
	}
	e := &Error{Kind: ErrInternal, Errno: syscall.Errno(cerr.sys_errno)}
	if int(code) > 0 && int(code) < len(sentinels) {
		e.Kind = sentinels[code]
	}
	if cerr.message != nil {
		e.Message = C.GoString(cerr.message)
	}
	if e.Kind == ErrCancelled && ctx != nil && ctx.Err() != nil {
		e.cause = ctx.Err()
	}
	return e
}
