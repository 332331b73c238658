#!/usr/bin/env bash
# ext4 from large layers: a sparse file past 4 GiB converts with its holes kept
# (the image stays small on disk) and reads back byte for byte through the
# mount; a dense file over 512 MiB streamed from stdin converts with a bounded
# peak RSS, and its content checks out through the mount. e2fsck -fn is clean.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root
[[ -x /usr/bin/time ]] || fail "/usr/bin/time missing (scripts/install-deps installs it)"
RSS_LIMIT_KB=$((64 * 1024))

size=$((4 * 1024 ** 3 + 8 * 1024 ** 2))
mkdir -p "$WORK/src"
src="$WORK/src/huge"
truncate -s "$size" "$src"
for off in 0 $((4 * 1024 ** 3 - 2048)) $((size - 4096)); do
  head -c 4096 /dev/urandom | dd of="$src" oflag=seek_bytes seek="$off" conv=notrunc status=none
done
tar --sparse --format=pax -C "$WORK/src" -cf "$WORK/sparse.tar" huge
/usr/bin/time -f %M -o "$WORK/rss.sparse" \
  "$VMIMAGE" mkfs --type ext4 "$WORK/sparse.tar" "$WORK/sparse.ext4" >"$WORK/sparse.log"
log "sparse: $(cat "$WORK/sparse.log")"
e2fsck -fn "$WORK/sparse.ext4" >"$WORK/fsck" 2>&1 || { cat "$WORK/fsck"; fail "e2fsck (sparse)"; }
on_disk=$(du -k "$WORK/sparse.ext4" | cut -f1)
((on_disk < 8192)) || fail "the sparse file's image takes $on_disk KiB on disk"
mount_image ext4 "$WORK/sparse.ext4" "$WORK/mnt/sparse"
[[ $(stat -c %s "$WORK/mnt/sparse/huge") -eq $size ]] || fail "wrong size through the mount"
cmp "$src" "$WORK/mnt/sparse/huge" || fail "sparse file content differs through the mount"
(($(stat -c %b "$WORK/mnt/sparse/huge") < 1024)) || fail "the file is not sparse inside ext4"
log "sparse: content equal, image $on_disk KiB on disk, peak RSS $(cat "$WORK/rss.sparse") KiB"

dense=$((512 * 1024 ** 2 + 5 * 1024 ** 2 + 123))
python3 "$TOOLS/make_layers.py" stream-big "$dense" |
  /usr/bin/time -f %M -o "$WORK/rss.dense" "$VMIMAGE" mkfs -q --type ext4 - "$WORK/dense.ext4"
e2fsck -fn "$WORK/dense.ext4" >"$WORK/fsck" 2>&1 || { cat "$WORK/fsck"; fail "e2fsck (dense)"; }
mount_image ext4 "$WORK/dense.ext4" "$WORK/mnt/dense"
python3 "$TOOLS/make_layers.py" check-big "$WORK/mnt/dense/big/dense" "$dense" ||
  fail "dense file content differs through the mount"
log "dense: $dense bytes, peak RSS $(cat "$WORK/rss.dense") KiB (limit $RSS_LIMIT_KB)"

for kind in sparse dense; do
  rss=$(tail -n 1 "$WORK/rss.$kind")
  [[ "$rss" =~ ^[0-9]+$ ]] || fail "could not measure RSS ($kind): $rss"
  ((rss < RSS_LIMIT_KB)) || fail "$kind: peak RSS $rss KiB exceeds $RSS_LIMIT_KB KiB"
done
log "ok"
