package image

import (
	"encoding/json"
	"time"
)

// OCIConfig is the part of an OCI image config a VM launcher needs.
type OCIConfig struct {
	User       string            `json:"user"`
	WorkingDir string            `json:"working_dir"`
	Entrypoint []string          `json:"entrypoint"`
	Cmd        []string          `json:"cmd"`
	Env        map[string]string `json:"env"`
}

// LayerRef is one blob of the store: Digest is its key, FSType "erofs" or
// "ext4"; the store fills in Size and Path.
type LayerRef struct {
	Digest string `json:"digest"`
	FSType string `json:"fs_type"`
	Size   int64  `json:"size"`
	Path   string `json:"path"`
	// Verity is set when the blob ends with a dm-verity tree (docs/verity.md).
	Verity *Verity `json:"verity,omitempty"`
}

// Verity is what a launcher needs to open a blob through dm-verity.
type Verity struct {
	RootHash   string `json:"root_hash"`
	Salt       string `json:"salt"`
	DataSize   int64  `json:"data_size"`
	HashOffset int64  `json:"hash_offset"`
	// DMTable is the dm-verity table line with "{device}" standing for the
	// block device holding the blob (dmsetup create --table, dm-mod.create=).
	DMTable string `json:"dm_table"`
}

// BuildResult is a boot-ready image: the lowers to stack (base first) and its config.
type BuildResult struct {
	RootfsPath      string     `json:"rootfs_path"`
	LowerPaths      []string   `json:"lower_paths"`
	LowerFSTypes    []string   `json:"lower_fs_types"`
	Layers          []LayerRef `json:"layers"`
	CanonicalLayers []LayerRef `json:"canonical_layers"`
	Digest          string     `json:"digest"`
	LayerDigests    []string   `json:"layer_digests"`
	Size            int64      `json:"size"`
	Cached          bool       `json:"cached"`
	OCI             *OCIConfig `json:"oci,omitempty"`
}

// ImageMeta is what the store records about an image. Source is "registry",
// "import" or "tag"; CreatedAt is kept to the second (zero: now, on Save).
type ImageMeta struct {
	Tag       string     `json:"tag"`
	Digest    string     `json:"digest"`
	Size      int64      `json:"size"`
	CreatedAt time.Time  `json:"created_at"`
	Source    string     `json:"source"`
	OCI       *OCIConfig `json:"oci,omitempty"`
}

// ImageInfo is one entry of a store listing.
type ImageInfo struct {
	Tag        string    `json:"tag"`
	RootfsPath string    `json:"rootfs_path"`
	Meta       ImageMeta `json:"meta"`
}

// metaJSON is the document vmimage_store_save reads: a zero CreatedAt is left
// out, so that the store records the time of saving.
func metaJSON(meta ImageMeta) ([]byte, error) {
	doc := map[string]interface{}{
		"tag": meta.Tag, "digest": meta.Digest, "size": meta.Size, "source": meta.Source,
	}
	if !meta.CreatedAt.IsZero() {
		doc["created_at"] = meta.CreatedAt.UTC().Format(time.RFC3339Nano)
	}
	if meta.OCI != nil {
		doc["oci"] = meta.OCI
	}
	return json.Marshal(doc)
}
