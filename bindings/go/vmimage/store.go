package image

// #include <stdlib.h>
// #include <vmimage/vmimage.h>
import "C"

import (
	"encoding/json"
	"runtime"
	"sync"
)

// Store is the image store: blobs under its cache root and SQLite metadata.
// Get, List, Remove and Save work on the local scope (tags a user made or
// imported); the registry-cache functions on the cache of pulls.
type Store struct {
	mu      *sync.Mutex // a builder's store shares the builder's
	baseDir string
	opened  bool
	handle  *C.vmimage_store
	err     error
	core    *builderCore // a builder's store: its handles
}

// NewStore returns the store at baseDir ("": the default location), opened
// (and created) at its first use; an error opening it is returned then.
func NewStore(baseDir string) *Store {
	s := &Store{mu: &sync.Mutex{}, baseDir: baseDir}
	runtime.SetFinalizer(s, (*Store).Close)
	return s
}

// Close releases a store from NewStore; later calls reopen it. A builder's
// store closes with its builder.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.core == nil && s.handle != nil {
		C.vmimage_store_free(s.handle)
		s.handle = nil
		s.opened = false
	}
	return nil
}

// lock takes the store for one call and returns its handle.
func (s *Store) lock() (*C.vmimage_store, error) {
	s.mu.Lock()
	if s.core != nil {
		if s.err != nil || s.core.handle == nil {
			s.mu.Unlock()
			if s.err != nil {
				return nil, s.err
			}
			return nil, errClosed
		}
		return C.vmimage_builder_store(s.core.handle), nil
	}
	if !s.opened {
		dir := cstring(s.baseDir)
		err := call(func(cerr *C.vmimage_error) C.vmimage_error_kind {
			return C.vmimage_store_open(dir, &s.handle, cerr)
		})
		freeAll(dir)
		if err != nil {
			s.mu.Unlock()
			return nil, err
		}
		s.opened = true
	}
	return s.handle, nil
}

func scopeOf(registry bool) C.vmimage_scope {
	if registry {
		return C.VMIMAGE_SCOPE_REGISTRY
	}
	return C.VMIMAGE_SCOPE_LOCAL
}

// CacheRoot is the store's directory ("" when it cannot be opened).
func (s *Store) CacheRoot() string {
	h, err := s.lock()
	if err != nil {
		return ""
	}
	defer s.mu.Unlock()
	return C.GoString(C.vmimage_store_cache_root(h))
}

// BlobPath is where the EROFS blob digest is (or would be); "" for a digest
// that is not one.
func (s *Store) BlobPath(digest string) string { return s.BlobPathWithFS(digest, "erofs") }

// BlobPathWithFS is BlobPath for a blob of fsType "erofs" or "ext4".
func (s *Store) BlobPathWithFS(digest, fsType string) string {
	h, err := s.lock()
	if err != nil {
		return ""
	}
	defer s.mu.Unlock()
	cdigest, cfs := cstring(digest), cstring(fsType)
	defer freeAll(cdigest, cfs)
	var out *C.char
	if call(func(cerr *C.vmimage_error) C.vmimage_error_kind {
		return C.vmimage_store_blob_path(h, cdigest, cfs, &out, cerr)
	}) != nil {
		return ""
	}
	return takeString(out)
}

// GC removes unreferenced blobs, temp files and leases of dead processes,
// and returns how many blobs it removed.
func (s *Store) GC() (int, error) {
	h, err := s.lock()
	if err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	var stats C.vmimage_gc_stats
	err = call(func(cerr *C.vmimage_error) C.vmimage_error_kind {
		return C.vmimage_store_gc(h, &stats, cerr)
	})
	return int(stats.blobs_removed), err
}

func (s *Store) get(tag string, registry bool) (*BuildResult, error) {
	h, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	ctag := cstring(tag)
	defer freeAll(ctag)
	var out *C.char
	err = call(func(cerr *C.vmimage_error) C.vmimage_error_kind {
		return C.vmimage_store_get(h, scopeOf(registry), ctag, &out, cerr)
	})
	text := takeString(out)
	if err != nil {
		return nil, err
	}
	return decodeResult(text)
}

func (s *Store) list(registry bool) ([]ImageInfo, error) {
	h, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out *C.char
	err = call(func(cerr *C.vmimage_error) C.vmimage_error_kind {
		return C.vmimage_store_list(h, scopeOf(registry), &out, cerr)
	})
	text := takeString(out)
	if err != nil {
		return nil, err
	}
	var images []ImageInfo
	if err := json.Unmarshal([]byte(text), &images); err != nil {
		return nil, err
	}
	return images, nil
}

func (s *Store) remove(tag string, registry bool) error {
	h, err := s.lock()
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	ctag := cstring(tag)
	defer freeAll(ctag)
	return call(func(cerr *C.vmimage_error) C.vmimage_error_kind {
		return C.vmimage_store_remove(h, scopeOf(registry), ctag, nil, cerr)
	})
}

func (s *Store) save(tag string, layers []LayerRef, meta ImageMeta, registry bool) error {
	if layers == nil {
		layers = []LayerRef{}
	}
	layersDoc, err := json.Marshal(layers)
	if err != nil {
		return err
	}
	metaDoc, err := metaJSON(meta)
	if err != nil {
		return err
	}
	h, err := s.lock()
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	ctag, clayers, cmeta := cstring(tag), cstring(string(layersDoc)), cstring(string(metaDoc))
	defer freeAll(ctag, clayers, cmeta)
	return call(func(cerr *C.vmimage_error) C.vmimage_error_kind {
		return C.vmimage_store_save(h, scopeOf(registry), ctag, clayers, cmeta, cerr)
	})
}

// Get returns the image tagged tag in the local scope (ErrImageNotFound if none).
func (s *Store) Get(tag string) (*BuildResult, error) { return s.get(tag, false) }

// List returns the images of the local scope.
func (s *Store) List() ([]ImageInfo, error) { return s.list(false) }

// Remove removes a local tag and the blobs only it used.
func (s *Store) Remove(tag string) error { return s.remove(tag, false) }

// Save records tag in the local scope with layers (blobs already in the
// store, base first; Digest and FSType are read) and meta.
func (s *Store) Save(tag string, layers []LayerRef, meta ImageMeta) error {
	return s.save(tag, layers, meta, false)
}

// Tag gives the image src resolves to (local scope first) the local tag dst.
func (s *Store) Tag(src, dst string) error {
	h, err := s.lock()
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	csrc, cdst := cstring(src), cstring(dst)
	defer freeAll(csrc, cdst)
	return call(func(cerr *C.vmimage_error) C.vmimage_error_kind {
		return C.vmimage_store_tag(h, csrc, cdst, cerr)
	})
}

// ExportOptions are `vmimage export`'s: FSType "ext4" (default, a writable
// root disk) or "erofs"; for ext4 SizeBytes (0: what fits) or FreeBytes.
type ExportOptions struct {
	FSType    string
	SizeBytes uint64
	FreeBytes uint64
}

// Export flattens the stored image ref into one filesystem image at output.
func (s *Store) Export(ref, output string, opts ExportOptions) error {
	h, err := s.lock()
	if err != nil {
		return err
	}
	defer s.mu.Unlock()
	if opts.FSType == "" {
		opts.FSType = "ext4"
	}
	cref, cout, cfs := cstring(ref), cstring(output), cstring(opts.FSType)
	defer freeAll(cref, cout, cfs)
	return call(func(cerr *C.vmimage_error) C.vmimage_error_kind {
		return C.vmimage_export(h, cref, cout, cfs, C.uint64_t(opts.SizeBytes),
			C.uint64_t(opts.FreeBytes), nil, cerr)
	})
}

// CreateUpper writes an empty sparse ext4 of sizeBytes with upper/ and work/
// for an overlayfs upper layer. uuid: "" (derived), "random" or a UUID.
func CreateUpper(output string, sizeBytes uint64, uuid, label string) error {
	cout, cuuid, clabel := cstring(output), cstring(uuid), cstring(label)
	defer freeAll(cout, cuuid, clabel)
	return call(func(cerr *C.vmimage_error) C.vmimage_error_kind {
		return C.vmimage_upper_create(cout, C.uint64_t(sizeBytes), cuuid, clabel, nil, cerr)
	})
}

// The model's free functions: each opens the store at cacheDir for one call.

// GC collects the garbage of the store at cacheDir; see Store.GC.
func GC(cacheDir string) (int, error) {
	s := NewStore(cacheDir)
	defer s.Close()
	return s.GC()
}

// SaveRegistryCache records tag in the registry cache of the store at cacheDir.
func SaveRegistryCache(tag, cacheDir string, layers []LayerRef, meta ImageMeta) error {
	s := NewStore(cacheDir)
	defer s.Close()
	return s.save(tag, layers, meta, true)
}

// GetRegistryCache returns the cached pull tagged tag.
func GetRegistryCache(tag, cacheDir string) (*BuildResult, error) {
	s := NewStore(cacheDir)
	defer s.Close()
	return s.get(tag, true)
}

// ListRegistryCache returns the cached pulls.
func ListRegistryCache(cacheDir string) ([]ImageInfo, error) {
	s := NewStore(cacheDir)
	defer s.Close()
	return s.list(true)
}

// RemoveRegistryCache removes a cached pull and the blobs only it used.
func RemoveRegistryCache(tag, cacheDir string) error {
	s := NewStore(cacheDir)
	defer s.Close()
	return s.remove(tag, true)
}
