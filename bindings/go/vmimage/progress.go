package image

// #include <stdint.h>
// #include <vmimage/vmimage.h>
import "C"

import "runtime/cgo"

// BuildEvent is the progress of a build or import, per layer: the C ABI's
// vmimage_build_event (builder.h's BuildEvent).
type BuildEvent struct {
	Kind    EventKind
	Index   int    // the layer (0 = base), or -1 for the image
	Digest  string // the layer's blob digest or DiffID; for EventSaved the image's
	Done    uint64 // EventBytes: compressed bytes received
	Total   uint64
	Message string // EventWarning: what happened
}

// EventKind says what a BuildEvent reports.
type EventKind int

// The kinds of BuildEvent, as vmimage_event_kind numbers them.
const (
	EventResolved       EventKind = iota // Total = the layer's compressed size
	EventCached                          // the layer's blob is in the store already
	EventBytes                           // Done of Total bytes received
	EventConverting                      // stream finished, the filesystem is being completed
	EventDone                            // the layer's blob is stored
	EventSquashing                       // writing the squashed lower
	EventSaved                           // the image is recorded
	EventWarning                         // a problem that left the layer usable
	EventChecking                        // an EROFS layer (pulled converted) is being checked
	EventFoundConverted                  // Digest = a converted image of the source, pulled instead
	EventPublished                       // Digest = the converted image published for other hosts
)

// vmimageGoProgress is the C progress callback's way into Go: user_data is
// a cgo.Handle of the BuildOptions.Progress function. It runs on the
// library's worker threads, one call at a time.
//
//export vmimageGoProgress
func vmimageGoProgress(handle C.uintptr_t, e *C.vmimage_build_event) {
	f := cgo.Handle(handle).Value().(func(BuildEvent))
	f(BuildEvent{
		Kind:    EventKind(e.kind),
		Index:   int(e.index),
		Digest:  C.GoString(e.digest),
		Done:    uint64(e.done),
		Total:   uint64(e.total),
		Message: C.GoString(e.message),
	})
}
