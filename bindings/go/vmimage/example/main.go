// A program written against the model's image package, compiled against
// vmimage's Go binding with only the import path changed: the binding's
// package is named image, as the model's is. It pulls an image, tags
// it, imports an archive, lists both scopes, removes what it made and
// collects garbage, printing what it sees.
//
//	example -cache DIR IMAGE_REF ARCHIVE
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"vmimage"
)

func main() {
	cacheDir := flag.String("cache", "", "store directory")
	flag.Parse()
	if flag.NArg() != 2 {
		log.Fatal("usage: example -cache DIR IMAGE_REF ARCHIVE")
	}
	ref, archive := flag.Arg(0), flag.Arg(1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	builder := image.NewBuilder(&image.BuildOptions{CacheDir: *cacheDir, ForcePull: false})
	var result *image.BuildResult
	result, err := builder.Build(ctx, ref)
	if err != nil {
		log.Fatalf("build: %v", err)
	}
	fmt.Printf("built %s: %d lowers, rootfs %s\n", result.Digest, len(result.LowerPaths), result.RootfsPath)
	if err := builder.SaveTag("example:v1", result); err != nil {
		log.Fatalf("tag: %v", err)
	}

	f, err := os.Open(archive)
	if err != nil {
		log.Fatal(err)
	}
	imported, err := builder.Import(ctx, f, "imported:v1")
	f.Close()
	if err != nil {
		log.Fatalf("import: %v", err)
	}
	fmt.Printf("imported %s\n", imported.Digest)

	var store *image.Store = builder.Store()
	var local []image.ImageInfo
	if local, err = store.List(); err != nil {
		log.Fatal(err)
	}
	cached, err := image.ListRegistryCache(*cacheDir)
	if err != nil {
		log.Fatal(err)
	}
	for _, info := range append(local, cached...) {
		var meta image.ImageMeta = info.Meta
		fmt.Printf("%s %s %s %d\n", info.Tag, meta.Source, meta.Digest, meta.Size)
	}
	var layer image.LayerRef = result.Layers[0]
	if store.BlobPathWithFS(layer.Digest, layer.FSType) != layer.Path {
		log.Fatalf("blob path of %s", layer.Digest)
	}
	if _, err := store.Get("missing:v1"); !errors.Is(err, image.ErrImageNotFound) {
		log.Fatalf("get missing: %v", err)
	}
	for _, tag := range []string{"example:v1", "imported:v1"} {
		if err := store.Remove(tag); err != nil {
			log.Fatal(err)
		}
	}
	if err := image.RemoveRegistryCache(ref, *cacheDir); err != nil {
		log.Fatal(err)
	}
	removed, err := image.GC(*cacheDir)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("gc removed %d blobs; store at %s\n", removed, image.NewStore(*cacheDir).CacheRoot())
}
