package image_test

// The model's API, signature by signature: this file compiles only if every
// function, method, field and sentinel has exactly the model's type.

import (
	"context"
	"io"
	"time"

	vmimage "vmimage"
)

var (
	_ func(*vmimage.BuildOptions) *vmimage.Builder                                             = vmimage.NewBuilder
	_ func(*vmimage.Builder, context.Context, string) (*vmimage.BuildResult, error)            = (*vmimage.Builder).Build
	_ func(*vmimage.Builder, context.Context, io.Reader, string) (*vmimage.BuildResult, error) = (*vmimage.Builder).Import
	_ func(*vmimage.Builder, string, *vmimage.BuildResult) error                               = (*vmimage.Builder).SaveTag
	_ func(*vmimage.Builder) *vmimage.Store                                                    = (*vmimage.Builder).Store

	_ func(string) *vmimage.Store                                               = vmimage.NewStore
	_ func(*vmimage.Store, string) string                                       = (*vmimage.Store).BlobPath
	_ func(*vmimage.Store, string, string) string                               = (*vmimage.Store).BlobPathWithFS
	_ func(*vmimage.Store) string                                               = (*vmimage.Store).CacheRoot
	_ func(*vmimage.Store) (int, error)                                         = (*vmimage.Store).GC
	_ func(*vmimage.Store, string) (*vmimage.BuildResult, error)                = (*vmimage.Store).Get
	_ func(*vmimage.Store) ([]vmimage.ImageInfo, error)                         = (*vmimage.Store).List
	_ func(*vmimage.Store, string) error                                        = (*vmimage.Store).Remove
	_ func(*vmimage.Store, string, []vmimage.LayerRef, vmimage.ImageMeta) error = (*vmimage.Store).Save

	_ func(string) (int, error)                                         = vmimage.GC
	_ func(string, string, []vmimage.LayerRef, vmimage.ImageMeta) error = vmimage.SaveRegistryCache
	_ func(string, string) (*vmimage.BuildResult, error)                = vmimage.GetRegistryCache
	_ func(string) ([]vmimage.ImageInfo, error)                         = vmimage.ListRegistryCache
	_ func(string, string) error                                        = vmimage.RemoveRegistryCache

	_ = vmimage.BuildOptions{CacheDir: "", ForcePull: false}
	_ = vmimage.BuildResult{RootfsPath: "", LowerPaths: []string{}, LowerFSTypes: []string{},
		Layers: []vmimage.LayerRef{}, CanonicalLayers: []vmimage.LayerRef{}, Digest: "",
		LayerDigests: []string{}, Size: int64(0), Cached: false, OCI: &vmimage.OCIConfig{}}
	_ = vmimage.LayerRef{Digest: "", FSType: "", Size: int64(0), Path: ""}
	_ = vmimage.ImageMeta{Tag: "", Digest: "", Size: int64(0), CreatedAt: time.Time{}, Source: ""}
	_ = vmimage.OCIConfig{User: "", WorkingDir: "", Entrypoint: []string{}, Cmd: []string{},
		Env: map[string]string{}}
	_ = vmimage.ImageInfo{Tag: "", RootfsPath: "", Meta: vmimage.ImageMeta{}}

	_ = []error{vmimage.ErrParseReference, vmimage.ErrPullImage, vmimage.ErrImageDigest,
		vmimage.ErrCreateDir, vmimage.ErrCreateTemp, vmimage.ErrExtract, vmimage.ErrCreateExt4,
		vmimage.ErrToolNotFound, vmimage.ErrTarball, vmimage.ErrStoreSave, vmimage.ErrStoreRead,
		vmimage.ErrMetadata, vmimage.ErrImageNotFound, vmimage.ErrLayerFS}
)
