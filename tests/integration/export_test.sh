#!/usr/bin/env bash
# vmimage export: a stored multi-layer image flattened into one ext4 root disk
# (e2fsck clean, mounts, equals the OCI result) and into one EROFS, from blobs only.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root
source "$VMIMAGE_SOURCE_DIR/tests/integration/image_check.sh"
cache="$WORK/cache"
vmi() { "$VMIMAGE" --cache-dir "$cache" "$@"; }

python3 "$TOOLS/make_layers.py" all "$WORK/layers"
dir="$WORK/layers/stacks/main"
tars=()
for i in $(seq 1 "$(ls "$dir"/*.tar | wc -l)"); do tars+=("$dir/$i.tar"); done
python3 "$TOOLS/pack_image.py" "$WORK/oci" main "${tars[@]}" >/dev/null
python3 "$TOOLS/tree_manifest.py" tar --mode merged "${tars[@]}" >"$WORK/want"
vmi -q import --layout layered main:v1 "$WORK/oci" || fail "import of the OCI directory"

vmi export main:v1 "$WORK/root.ext4" --type ext4 --free 64M >"$WORK/out" || fail "export ext4"
grep -q 'ext4' "$WORK/out" || fail "export printed: $(cat "$WORK/out")"
e2fsck -fn "$WORK/root.ext4" >"$WORK/fsck" 2>&1 || fail "e2fsck: $(cat "$WORK/fsck")"
mount_image ext4 "$WORK/root.ext4" "$WORK/mnt/ext4"
# --free is what df shows available (not what is left before the journal and
# ext4's reserve: 64M once gave 51 MiB).
avail=$(df -B1 --output=avail "$WORK/mnt/ext4" | tail -n 1)
((avail >= 64 << 20)) || fail "export --free 64M: df shows $avail bytes available"
python3 "$TOOLS/tree_manifest.py" dir "$WORK/mnt/ext4" >"$WORK/got-ext4"
# ext4 adds lost+found when asked for; directory nlink and sizes are its own.
python3 "$TOOLS/tree_manifest.py" diff --ignore nlink "$WORK/got-ext4" "$WORK/want" ||
  fail "the exported ext4 differs from the OCI result"

vmi export main:v1 "$WORK/root.erofs" --type erofs >/dev/null || fail "export erofs"
mount_image erofs "$WORK/root.erofs" "$WORK/mnt/erofs"
python3 "$TOOLS/tree_manifest.py" dir "$WORK/mnt/erofs" >"$WORK/got-erofs"
python3 "$TOOLS/tree_manifest.py" diff "$WORK/got-erofs" "$WORK/want" ||
  fail "the exported EROFS differs from the OCI result"

# Images whose lowers are ext4 (--fs ext4) export from their per-layer EROFS
# blobs; this once failed with "not an EROFS image (bad magic)".
for layout in layered squashed; do
  vmi -q import --fs ext4 --layout "$layout" "ext4-$layout:v1" "$WORK/oci" ||
    fail "import --fs ext4 --layout $layout"
  for type in ext4 erofs; do
    vmi -q export "ext4-$layout:v1" "$WORK/from-ext4.$type" --type "$type" ||
      fail "export --type $type of an --fs ext4 image ($layout)"
    mount_image "$type" "$WORK/from-ext4.$type" "$WORK/mnt/from-ext4-$layout-$type"
    python3 "$TOOLS/tree_manifest.py" dir "$WORK/mnt/from-ext4-$layout-$type" \
      >"$WORK/got-from-ext4"
    python3 "$TOOLS/tree_manifest.py" diff --ignore nlink "$WORK/got-from-ext4" "$WORK/want" ||
      fail "the $type export of the --fs ext4 image ($layout) differs from the OCI result"
    rm -f "$WORK/from-ext4.$type"
  done
done

# Too small a size: a clear error naming the size needed, and no file.
expect_fail vmi export main:v1 "$WORK/small.ext4" --type ext4 --size 64K
grep -qi 'size' "$WORK/err" || fail "too small: $(cat "$WORK/err")"
[[ ! -e "$WORK/small.ext4" ]] || fail "a too-small export left a file"
expect_fail vmi export nope:v1 "$WORK/x.ext4"
grep -q 'image not found' "$WORK/err" || fail "unknown image: $(cat "$WORK/err")"
log ok
