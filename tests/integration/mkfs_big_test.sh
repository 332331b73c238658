#!/usr/bin/env bash
# Large files: a sparse file past 4 GiB (data straddling the 4 GiB boundary) converts
# and reads back byte for byte through the mount; a dense multi-GiB file streamed
# from stdin converts with a peak RSS under a fixed bound (memory must not grow
# with file size), and its content checks out through the mount.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root
[[ -x /usr/bin/time ]] || fail "/usr/bin/time missing (scripts/install-deps installs it)"
RSS_LIMIT_KB=$((64 * 1024))

# --- > 4 GiB sparse file (GNU tar --sparse, pax format)
size=$((4 * 1024 ** 3 + 8 * 1024 ** 2))
mkdir -p "$WORK/src"
src="$WORK/src/huge"
truncate -s "$size" "$src"
for off in 0 $((4 * 1024 ** 3 - 2048)) $((size - 4096)); do
  head -c 4096 /dev/urandom | dd of="$src" oflag=seek_bytes seek="$off" conv=notrunc status=none
done
tar --sparse --format=pax -C "$WORK/src" -cf "$WORK/sparse.tar" huge
log "sparse tar: $(stat -c %s "$WORK/sparse.tar") bytes for a $size-byte file"
/usr/bin/time -f %M -o "$WORK/rss.sparse" "$VMIMAGE" mkfs -q "$WORK/sparse.tar" "$WORK/sparse.erofs"
fsck.erofs "$WORK/sparse.erofs" >/dev/null || fail "fsck.erofs rejects the sparse image"
mount_image erofs "$WORK/sparse.erofs" "$WORK/mnt/sparse"
[[ $(stat -c %s "$WORK/mnt/sparse/huge") -eq $size ]] || fail "wrong size through the mount"
cmp "$src" "$WORK/mnt/sparse/huge" || fail "sparse file content differs through the mount"
log "sparse: content equal, peak RSS $(cat "$WORK/rss.sparse") KiB"

# --- dense multi-GiB file from stdin: peak RSS stays bounded
dense=$((2 * 1024 ** 3 + 5 * 1024 ** 2 + 123))
python3 "$TOOLS/make_layers.py" stream-big "$dense" |
  /usr/bin/time -f %M -o "$WORK/rss.dense" "$VMIMAGE" mkfs -q - "$WORK/dense.erofs"
mount_image erofs "$WORK/dense.erofs" "$WORK/mnt/dense"
python3 "$TOOLS/make_layers.py" check-big "$WORK/mnt/dense/big/dense" "$dense" ||
  fail "dense file content differs through the mount"
log "dense: $dense bytes, peak RSS $(cat "$WORK/rss.dense") KiB (limit $RSS_LIMIT_KB)"

for kind in sparse dense; do
  rss=$(tail -n 1 "$WORK/rss.$kind")
  [[ "$rss" =~ ^[0-9]+$ ]] || fail "could not measure RSS ($kind): $rss"
  ((rss < RSS_LIMIT_KB)) || fail "$kind: peak RSS $rss KiB exceeds $RSS_LIMIT_KB KiB"
done
