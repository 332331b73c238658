package image_test

// Against a local registry that tests/embed/go_test.sh starts and fills:
// $VMIMAGE_TEST_IMAGE (manifest digest $VMIMAGE_TEST_DIGEST), the same image
// as an OCI archive at $VMIMAGE_TEST_ARCHIVE, and $VMIMAGE_TEST_STALLED_IMAGE,
// whose second layer stalls midway (a fault proxy).

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	vmimage "vmimage"
)

func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Skipf("$%s is not set (tests/embed/go_test.sh sets it)", name)
	}
	return v
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func tags(images []vmimage.ImageInfo) []string {
	var out []string
	for _, i := range images {
		out = append(out, i.Tag)
	}
	return out
}

// blobFiles lists the blob files of a store.
func blobFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "blobs"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestPullTagListRemoveGC(t *testing.T) {
	ref, digest := env(t, "VMIMAGE_TEST_IMAGE"), env(t, "VMIMAGE_TEST_DIGEST")
	dir := t.TempDir()
	var mu sync.Mutex // calls come one at a time, but from the library's threads
	var events []vmimage.BuildEvent
	b := vmimage.NewBuilder(&vmimage.BuildOptions{CacheDir: dir, Layout: "layered",
		Progress: func(e vmimage.BuildEvent) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e)
		}})
	defer b.Close()

	r, err := b.Build(ctx(t), ref)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if r.Digest != digest || r.Cached || len(r.LowerPaths) != 2 || r.RootfsPath != r.LowerPaths[0] {
		t.Fatalf("Build gave %+v, want digest %s, 2 lowers, not cached", r, digest)
	}
	for i, p := range r.LowerPaths {
		if st, err := os.Stat(p); err != nil || st.Size() == 0 || r.LowerFSTypes[i] != "erofs" {
			t.Fatalf("lower %d %s: %v", i, p, err)
		}
	}
	if r.OCI == nil || r.OCI.User != "1000:1000" || r.OCI.Env["MODE"] != "test" {
		t.Fatalf("OCI config %+v", r.OCI)
	}
	done := map[int]bool{}
	var saved string
	mu.Lock()
	defer mu.Unlock()
	for _, e := range events {
		if e.Kind == vmimage.EventDone {
			done[e.Index] = true
		}
		if e.Kind == vmimage.EventSaved {
			saved = e.Digest
		}
	}
	if !done[0] || !done[1] || saved != digest {
		t.Fatalf("progress events %+v: want both layers done and the image saved", events)
	}
	again, err := b.Build(ctx(t), ref)
	if err != nil || !again.Cached || again.Digest != digest {
		t.Fatalf("second Build: %+v, %v; want it cached", again, err)
	}
	cached, err := vmimage.ListRegistryCache(dir)
	if err != nil || len(cached) != 1 || cached[0].Tag != ref || cached[0].Meta.Source != "registry" {
		t.Fatalf("ListRegistryCache: %+v, %v", cached, err)
	}
	if got, err := vmimage.GetRegistryCache(ref, dir); err != nil || got.Digest != digest {
		t.Fatalf("GetRegistryCache: %+v, %v", got, err)
	}

	store := b.Store()
	if err := b.SaveTag("mine:v1", r); err != nil {
		t.Fatalf("SaveTag: %v", err)
	}
	local, err := store.List()
	if err != nil || len(local) != 1 || local[0].Tag != "mine:v1" || local[0].Meta.Source != "tag" ||
		local[0].Meta.Digest != digest || local[0].RootfsPath != r.RootfsPath ||
		time.Since(local[0].Meta.CreatedAt) > time.Minute {
		t.Fatalf("List after SaveTag: %+v, %v", local, err)
	}
	got, err := store.Get("mine:v1")
	if err != nil || strings.Join(got.LowerPaths, ":") != strings.Join(r.LowerPaths, ":") {
		t.Fatalf("Get: %+v, %v", got, err)
	}
	if p := store.BlobPathWithFS(r.Layers[1].Digest, "erofs"); p != r.Layers[1].Path {
		t.Fatalf("BlobPathWithFS = %q, want %q", p, r.Layers[1].Path)
	}
	if p := store.BlobPath(r.LayerDigests[0]); p != r.LowerPaths[0] {
		t.Fatalf("BlobPath = %q, want %q", p, r.LowerPaths[0])
	}
	if root := store.CacheRoot(); root != dir || vmimage.NewStore(dir).CacheRoot() != dir {
		t.Fatalf("CacheRoot = %q, want %q", root, dir)
	}

	if err := store.Remove("mine:v1"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if _, err := store.Get("mine:v1"); !errors.Is(err, vmimage.ErrImageNotFound) {
		t.Fatalf("Get after Remove: %v, want ErrImageNotFound", err)
	}
	if err := store.Remove("mine:v1"); !errors.Is(err, vmimage.ErrImageNotFound) {
		t.Fatalf("Remove again: %v, want ErrImageNotFound", err)
	}
	if len(blobFiles(t, dir)) == 0 {
		t.Fatal("removing the tag removed the registry cache's blobs")
	}
	if err := vmimage.RemoveRegistryCache(ref, dir); err != nil {
		t.Fatalf("RemoveRegistryCache: %v", err)
	}
	if n, err := vmimage.GC(dir); err != nil || n != 0 {
		t.Fatalf("GC = %d, %v; want nothing left to collect", n, err)
	}
	if files := blobFiles(t, dir); len(files) != 0 {
		t.Fatalf("blobs left: %v", files)
	}
}

// A reader that is not a file: Import must stream it.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestImportSaveAndErrors(t *testing.T) {
	archive, digest := env(t, "VMIMAGE_TEST_ARCHIVE"), env(t, "VMIMAGE_TEST_DIGEST")
	dir := t.TempDir()
	b := vmimage.NewBuilder(&vmimage.BuildOptions{CacheDir: dir})
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := b.Import(ctx(t), onlyReader{f}, "imported:v1")
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if r.Digest != digest || len(r.LowerPaths) != 1 || len(r.CanonicalLayers) != 2 {
		t.Fatalf("Import gave %+v; want %s squashed from 2 layers", r, digest)
	}
	store := b.Store()
	if info, err := store.List(); err != nil || len(info) != 1 || info[0].Meta.Source != "import" {
		t.Fatalf("List after Import: %+v, %v", info, err)
	}

	// Save: the model's way to record an image from blobs in the store.
	created := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	meta := vmimage.ImageMeta{Tag: "saved:v1", Digest: r.Digest, Size: r.Size, CreatedAt: created,
		Source: "import", OCI: r.OCI}
	if err := store.Save("saved:v1", r.CanonicalLayers, meta); err != nil {
		t.Fatalf("Save: %v", err)
	}
	saved, err := store.Get("saved:v1")
	if err != nil || len(saved.LowerPaths) != 2 || saved.LowerPaths[1] != r.CanonicalLayers[1].Path {
		t.Fatalf("Get of a saved image: %+v, %v", saved, err)
	}
	if err := vmimage.SaveRegistryCache("example.com/saved:v1", dir, r.CanonicalLayers, meta); err != nil {
		t.Fatalf("SaveRegistryCache: %v", err)
	}
	cached, err := vmimage.ListRegistryCache(dir)
	if err != nil || len(cached) != 1 || !cached[0].Meta.CreatedAt.Equal(created) {
		t.Fatalf("ListRegistryCache: %+v, %v; want created at %v", cached, err, created)
	}
	bogus := []vmimage.LayerRef{{Digest: "sha256:" + strings.Repeat("0", 64), FSType: "erofs"}}
	if err := store.Save("bogus:v1", bogus, vmimage.ImageMeta{}); err == nil {
		t.Fatal("Save of a blob the store lacks succeeded")
	}

	// Errors carry the model's sentinels.
	if _, err := b.Build(ctx(t), "Not/A/Valid::Ref"); !errors.Is(err, vmimage.ErrParseReference) {
		t.Fatalf("Build of a bad reference: %v, want ErrParseReference", err)
	}
	if _, err := b.Import(ctx(t), bytes.NewReader(make([]byte, 10240)), "zeros:v1"); err == nil ||
		errors.Is(err, vmimage.ErrImageNotFound) {
		t.Fatalf("Import of zeros: %v, want an archive error", err)
	}
	failing := io.MultiReader(io.LimitReader(mustOpen(t, archive), 20000), errReader{})
	if _, err := b.Import(ctx(t), failing, "cut:v1"); err == nil || !errors.Is(err, errBroken) {
		t.Fatalf("Import from a failing reader: %v, want its error", err)
	}
	if _, err := store.Get("cut:v1"); !errors.Is(err, vmimage.ErrImageNotFound) {
		t.Fatalf("a failed import was stored: %v", err)
	}
	var verr *vmimage.Error
	if _, err := vmimage.GetRegistryCache("none:v1", dir); !errors.As(err, &verr) ||
		verr.Kind != vmimage.ErrImageNotFound || !strings.Contains(verr.Message, "none:v1") {
		t.Fatalf("GetRegistryCache of a missing tag: %v", err)
	}
	if _, err := vmimage.NewBuilder(&vmimage.BuildOptions{CacheDir: dir, Layout: "diagonal"}).
		Build(ctx(t), "x:v1"); err == nil {
		t.Fatal("a bad layout was accepted")
	}

	// vmimage's extras: export and an upper disk.
	out := filepath.Join(t.TempDir(), "root.erofs")
	if err := store.Export("imported:v1", out, vmimage.ExportOptions{FSType: "erofs"}); err != nil {
		t.Fatalf("Export: %v", err)
	}
	upper := filepath.Join(t.TempDir(), "upper.ext4")
	if err := vmimage.CreateUpper(upper, 64<<20, "", ""); err != nil {
		t.Fatalf("CreateUpper: %v", err)
	}
	if st, err := os.Stat(upper); err != nil || st.Size() != 64<<20 {
		t.Fatalf("upper disk: %v", err)
	}
}

var errBroken = errors.New("broken reader")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBroken }

func mustOpen(t *testing.T, path string) *os.File {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// Cancelling the context mid-pull stops the library, which leaves nothing:
// no temporary file, no lease, no image.
func TestCancelMidPull(t *testing.T) {
	ref := env(t, "VMIMAGE_TEST_STALLED_IMAGE")
	dir := t.TempDir()
	b := vmimage.NewBuilder(&vmimage.BuildOptions{CacheDir: dir, Layout: "layered"})
	c, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := b.Build(c, ref)
		done <- err
	}()
	// The stalled layer's temporary file shows that the pull is under way.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if entries, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(entries) > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the pull ended before it was cancelled: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the pull did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !errors.Is(err, vmimage.ErrCancelled) {
			t.Fatalf("cancelled Build: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pull went on 10 s after its context was cancelled")
	}
	t.Logf("stopped %v after the cancel", time.Since(start))
	for _, sub := range []string{"tmp", "leases"} {
		if entries, _ := os.ReadDir(filepath.Join(dir, sub)); len(entries) != 0 {
			t.Fatalf("left in %s/: %v", sub, entries)
		}
	}
	if cached, err := vmimage.ListRegistryCache(dir); err != nil || len(cached) != 0 {
		t.Fatalf("an image was recorded: %+v, %v", cached, err)
	}
	if _, err := b.Store().GC(); err != nil {
		t.Fatalf("GC: %v", err)
	}
}

// vmimage's extras on a Builder: Tag, and Push to the test registry.
func TestTagAndPush(t *testing.T) {
	archive, ref := env(t, "VMIMAGE_TEST_ARCHIVE"), env(t, "VMIMAGE_TEST_IMAGE")
	registry := strings.SplitN(ref, "/", 2)[0]
	b := vmimage.NewBuilder(&vmimage.BuildOptions{CacheDir: t.TempDir(), Layout: "layered"})
	if _, err := b.Import(ctx(t), mustOpen(t, archive), "local/app:v1"); err != nil {
		t.Fatalf("Import: %v", err)
	}
	if err := b.Store().Tag("local/app:v1", "local/app:v2"); err != nil {
		t.Fatalf("Tag: %v", err)
	}
	if err := b.Store().Tag("local/none:v1", "x:v1"); !errors.Is(err, vmimage.ErrImageNotFound) {
		t.Fatalf("Tag of a missing image: %v", err)
	}
	dest := registry + "/test/pushed:v1"
	first, err := b.Push(ctx(t), "local/app:v2", dest, "layered")
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if first.Reference != dest || !strings.HasPrefix(first.Digest, "sha256:") ||
		len(first.Layers) != 2 || !first.Layers[0].Uploaded || first.Layout != "layered" {
		t.Fatalf("Push gave %+v", first)
	}
	second, err := b.Push(ctx(t), "local/app:v1", dest, "layered")
	if err != nil || second.Digest != first.Digest || second.Layers[0].Uploaded {
		t.Fatalf("second Push: %+v, %v; want the same digest, nothing uploaded", second, err)
	}
	if _, err := b.Push(ctx(t), "local/app:v1", dest+"@sha256:"+strings.Repeat("0", 64), ""); !errors.Is(err, vmimage.ErrUsage) {
		t.Fatalf("Push to a digest: %v, want ErrUsage", err)
	}
}

func TestBuildWithVerity(t *testing.T) {
	ref := env(t, "VMIMAGE_TEST_IMAGE")
	b := vmimage.NewBuilder(&vmimage.BuildOptions{CacheDir: t.TempDir(), Layout: "layered", Verity: true})
	defer b.Close()
	r, err := b.Build(ctx(t), ref)
	if err != nil {
		t.Fatalf("Build with Verity: %v", err)
	}
	for i, l := range append(r.Layers, r.CanonicalLayers...) {
		v := l.Verity
		if v == nil || len(v.RootHash) != 64 || v.DataSize == 0 || v.HashOffset != v.DataSize ||
			!strings.HasPrefix(v.DMTable, "0 ") || !strings.Contains(v.DMTable, " verity 1 {device} {device} 4096 4096 ") ||
			!strings.Contains(v.DMTable, v.RootHash+" "+v.Salt) {
			t.Fatalf("layer %d: verity %+v", i, v)
		}
		if st, err := os.Stat(l.Path); err != nil || st.Size() <= v.HashOffset {
			t.Fatalf("layer %d: %s holds no tree after byte %d (%v)", i, l.Path, v.HashOffset, err)
		}
	}
}
