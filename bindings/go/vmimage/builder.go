package image

// #include <stdint.h>
// #include <stdlib.h>
// #include <vmimage/vmimage.h>
// void vmimage_go_set_progress(vmimage_build_options* options, uintptr_t handle);
import "C"

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/cgo"
	"strconv"
	"sync"
)

// BuildOptions configures a Builder. The fields after ForcePull are vmimage's
// own; their zero values are the CLI's defaults.
type BuildOptions struct {
	CacheDir  string // the store; "": $VMIMAGE_CACHE_DIR, $XDG_CACHE_HOME/vmimage, ~/.cache/vmimage
	ForcePull bool   // skip the local scope and the registry cache

	Platform           string   // "os/arch[/variant]"; "": the host's
	Layout             string   // "squashed" (default), "layered" or "auto:N"
	FSType             string   // of the runtime lowers: "erofs" (default) or "ext4"
	Jobs               int      // layers fetched and converted at once; 0: 3
	InsecureRegistries []string // HOST[:PORT] reached over plain HTTP
	CAFile             string   // extra CA certificates (PEM)
	Limits             []string // "NAME=VALUE", as `vmimage --limit` takes them
	Verity             bool     // true: every blob ends with a dm-verity tree (LayerRef.Verity); false: the store's default
	// Progress, if set, is called for each layer's progress, from the
	// library's threads, one call at a time; it must not call the Builder.
	Progress func(BuildEvent)
}

// Builder builds images into its store: from a registry (Build) or an archive (Import).
type Builder struct {
	core  *builderCore
	err   error // from creating the handle
	store *Store
}

// builderCore owns the C handles; the Builder and its Store share it, and the
// garbage collector frees it once neither is referenced.
type builderCore struct {
	mu       sync.Mutex // one C call at a time on the handle (and its store)
	handle   *C.vmimage_builder
	opts     *C.vmimage_build_options // kept for Push's registry options
	progress cgo.Handle               // of BuildOptions.Progress, or 0
}

func (c *builderCore) free() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.handle != nil {
		C.vmimage_builder_free(c.handle)
		c.handle = nil
	}
	if c.opts != nil {
		C.vmimage_build_options_free(c.opts)
		c.opts = nil
	}
	if c.progress != 0 {
		c.progress.Delete()
		c.progress = 0
	}
}

// NewBuilder opens the store of opts (nil: defaults). An error opening it is
// returned by the Builder's methods.
func NewBuilder(opts *BuildOptions) *Builder {
	if opts == nil {
		opts = &BuildOptions{}
	}
	core := &builderCore{}
	b := &Builder{core: core}
	core.opts, b.err = newOptions(opts)
	if b.err == nil && opts.Progress != nil {
		core.progress = cgo.NewHandle(opts.Progress)
		C.vmimage_go_set_progress(core.opts, C.uintptr_t(core.progress))
	}
	if b.err == nil {
		b.err = call(func(cerr *C.vmimage_error) C.vmimage_error_kind {
			return C.vmimage_builder_new(core.opts, &core.handle, cerr)
		})
	}
	runtime.SetFinalizer(core, (*builderCore).free)
	b.store = &Store{mu: &core.mu, err: b.err, core: core}
	return b
}

func newOptions(opts *BuildOptions) (*C.vmimage_build_options, error) {
	o := C.vmimage_build_options_new()
	var settings [][2]string
	add := func(name, value string) { settings = append(settings, [2]string{name, value}) }
	if opts.CacheDir != "" {
		add("cache-dir", opts.CacheDir)
	}
	add("force", strconv.FormatBool(opts.ForcePull))
	if opts.Platform != "" {
		add("platform", opts.Platform)
	}
	if opts.Layout != "" {
		add("layout", opts.Layout)
	}
	if opts.FSType != "" {
		add("fs", opts.FSType)
	}
	if opts.Jobs != 0 {
		add("jobs", strconv.Itoa(opts.Jobs))
	}
	for _, r := range opts.InsecureRegistries {
		add("insecure-registry", r)
	}
	if opts.CAFile != "" {
		add("ca-file", opts.CAFile)
	}
	for _, l := range opts.Limits {
		add("limit", l)
	}
	if opts.Verity {
		add("verity", "true")
	}
	for _, s := range settings {
		name, value := cstring(s[0]), cstring(s[1])
		err := call(func(cerr *C.vmimage_error) C.vmimage_error_kind {
			return C.vmimage_build_options_set(o, name, value, cerr)
		})
		freeAll(name, value)
		if err != nil {
			C.vmimage_build_options_free(o)
			return nil, err
		}
	}
	return o, nil
}

// Close releases the builder and its store; later calls fail. The garbage
// collector closes a Builder (and its Store) no longer referenced.
func (b *Builder) Close() error {
	b.core.free()
	return nil
}

var errClosed = &Error{Kind: ErrUsage, Message: "the builder is closed"}

// lock takes the builder for one call and returns its handle.
func (b *Builder) lock() (*C.vmimage_builder, error) {
	if b.err != nil {
		return nil, b.err
	}
	b.core.mu.Lock()
	if b.core.handle == nil {
		b.core.mu.Unlock()
		return nil, errClosed
	}
	return b.core.handle, nil
}

func decodeResult(text string) (*BuildResult, error) {
	var r BuildResult
	if err := json.Unmarshal([]byte(text), &r); err != nil {
		return nil, fmt.Errorf("vmimage: reading the library's result: %w", err)
	}
	return &r, nil
}

// Build returns the image imageRef names: from the local scope, the registry
// cache, or pulled from its registry.
func (b *Builder) Build(ctx context.Context, imageRef string) (*BuildResult, error) {
	h, err := b.lock()
	if err != nil {
		return nil, err
	}
	defer b.core.mu.Unlock()
	ref := cstring(imageRef)
	defer freeAll(ref)
	var out *C.char
	err = withContext(ctx, nil, func(_ *canceller, token *C.vmimage_cancel_token,
		cerr *C.vmimage_error) C.vmimage_error_kind {
		return C.vmimage_builder_build(h, ref, token, &out, cerr)
	})
	text := takeString(out)
	if err != nil {
		return nil, err
	}
	return decodeResult(text)
}

// Import stores the image of an archive (docker save, OCI archive; plain,
// gzip or zstd) read from reader as it streams, under tag in the local scope
// ("": the names the archive gives). An error from reader fails the import
// and stores nothing.
func (b *Builder) Import(ctx context.Context, reader io.Reader, tag string) (*BuildResult, error) {
	h, err := b.lock()
	if err != nil {
		return nil, err
	}
	defer b.core.mu.Unlock()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	ctag := cstring(tag)
	defer freeAll(ctag)
	var out *C.char
	feed := &feeder{reader: reader, pipe: pw}
	err = withContext(ctx, func() { pw.Close() }, func(c *canceller, token *C.vmimage_cancel_token,
		cerr *C.vmimage_error) C.vmimage_error_kind {
		feed.done.Add(1)
		go feed.run(c)
		code := C.vmimage_builder_import_fd(h, C.int(pr.Fd()), ctag, nil, token, &out, cerr)
		pr.Close() // a feed still writing stops
		return code
	})
	// A cancelled import may leave the feed blocked in reader.Read: not waited for.
	if ctx.Err() == nil {
		feed.done.Wait()
	}
	text := takeString(out)
	if readErr := feed.err(); readErr != nil {
		return nil, fmt.Errorf("vmimage: reading the archive: %w", readErr)
	}
	if err != nil {
		return nil, err
	}
	return decodeResult(text)
}

// feeder copies an Import's reader into the pipe the library reads.
type feeder struct {
	reader  io.Reader
	pipe    *os.File
	done    sync.WaitGroup
	mu      sync.Mutex
	readErr error
}

func (f *feeder) run(c *canceller) {
	defer f.done.Done()
	defer f.pipe.Close()
	buf := make([]byte, 256<<10)
	for {
		n, err := f.reader.Read(buf)
		if n > 0 {
			if _, werr := f.pipe.Write(buf[:n]); werr != nil {
				return // the library stopped reading: its error says why
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			f.mu.Lock()
			f.readErr = err
			f.mu.Unlock()
			c.cancel() // before the pipe ends: the import must not take a short archive
			return
		}
	}
}

func (f *feeder) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.readErr
}

// SaveTag records a local tag for an image already built.
func (b *Builder) SaveTag(tag string, result *BuildResult) error {
	if result == nil {
		return &Error{Kind: ErrUsage, Message: "SaveTag needs a result"}
	}
	doc, err := json.Marshal(result)
	if err != nil {
		return err
	}
	h, err := b.lock()
	if err != nil {
		return err
	}
	defer b.core.mu.Unlock()
	ctag, cdoc := cstring(tag), cstring(string(doc))
	defer freeAll(ctag, cdoc)
	return call(func(cerr *C.vmimage_error) C.vmimage_error_kind {
		return C.vmimage_builder_save_tag(h, ctag, cdoc, cerr)
	})
}

// Store is the builder's store (closed with the builder).
func (b *Builder) Store() *Store { return b.store }

// PushResult says where Push put an image and which blobs it uploaded.
// Index is set when the store held other platforms of the image's source
// index and they went up with it, under an image index at dest's tag; the
// other fields are then the image's own manifest, pushed by digest.
type PushResult struct {
	Reference string       `json:"reference"`
	Digest    string       `json:"digest"`
	Layout    string       `json:"layout"`
	Config    PushedBlob   `json:"config"`
	Layers    []PushedBlob `json:"layers"`
	Index     *PushedIndex `json:"index,omitempty"`
}

// PushedIndex is the image index a push of several platforms stored.
type PushedIndex struct {
	Reference string           `json:"reference"`
	Digest    string           `json:"digest"`
	Size      int64            `json:"size"`
	Platforms []PushedPlatform `json:"platforms"`
}

// PushedPlatform is one platform's manifest of an index push.
type PushedPlatform struct {
	Platform  string       `json:"platform"`
	Image     string       `json:"image"`
	Reference string       `json:"reference"`
	Digest    string       `json:"digest"`
	Size      int64        `json:"size"`
	Config    PushedBlob   `json:"config"`
	Layers    []PushedBlob `json:"layers"`
}

// PushedBlob is one blob of a pushed image; Uploaded is false when the
// registry had it already or Mounted it from another repository.
type PushedBlob struct {
	Digest   string `json:"digest"`
	Size     int64  `json:"size"`
	Uploaded bool   `json:"uploaded"`
	Mounted  bool   `json:"mounted"`
}

// Push publishes the stored image src to dest (a reference with a tag) as an
// EROFS-native OCI image, as `vmimage push` does: layout "layered" (one EROFS
// layer per OCI layer) or "squashed". Registry options are the builder's.
func (b *Builder) Push(ctx context.Context, src, dest, layout string) (*PushResult, error) {
	var l C.vmimage_push_layout
	switch layout {
	case "", "layered":
		l = C.VMIMAGE_PUSH_LAYERED
	case "squashed":
		l = C.VMIMAGE_PUSH_SQUASHED
	default:
		return nil, &Error{Kind: ErrUsage, Message: "layout must be layered or squashed, not " + strconv.Quote(layout)}
	}
	h, err := b.lock()
	if err != nil {
		return nil, err
	}
	defer b.core.mu.Unlock()
	csrc, cdest := cstring(src), cstring(dest)
	defer freeAll(csrc, cdest)
	var out *C.char
	err = withContext(ctx, nil, func(_ *canceller, token *C.vmimage_cancel_token,
		cerr *C.vmimage_error) C.vmimage_error_kind {
		return C.vmimage_push(C.vmimage_builder_store(h), csrc, cdest, l, b.core.opts, token, &out, cerr)
	})
	text := takeString(out)
	if err != nil {
		return nil, err
	}
	var r PushResult
	if err := json.Unmarshal([]byte(text), &r); err != nil {
		return nil, err
	}
	return &r, nil
}
