#!/usr/bin/env bash
# `vmimage upper create`: a 1 TiB upper disk is created quickly (time reported,
# not asserted), is sparse, checks clean, and serves as the overlayfs upper over
# an ext4 lower: writes, copy-ups, deletes and renames persist, and the disk is
# still clean afterwards. Also: size suffixes, bad sizes, --uuid, --label, --json.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root

up=$WORK/upper.img
start=$(date +%s%N)
"$VMIMAGE" upper create "$up" --size 1T >"$WORK/out"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
on_disk_kib=$(du -k "$up" | cut -f1)
log "1 TiB upper created in ${elapsed_ms} ms, ${on_disk_kib} KiB on disk: $(cat "$WORK/out")"
[[ $(stat -c %s "$up") -eq $((1 << 40)) ]] || fail "upper is not 1 TiB"
(( on_disk_kib < 65536 )) || fail "upper takes ${on_disk_kib} KiB on disk"
e2fsck -fn "$up" >"$WORK/fsck" 2>&1 || { cat "$WORK/fsck"; fail "e2fsck on the new upper"; }

# A small ext4 lower from mke2fs (independent of vmimage).
mkdir -p "$WORK/lowersrc/dir" "$WORK/lowersrc/emptied"
echo keep >"$WORK/lowersrc/keep"
echo edit >"$WORK/lowersrc/edit"
echo remove >"$WORK/lowersrc/remove"
echo inner >"$WORK/lowersrc/dir/inner"
echo x >"$WORK/lowersrc/emptied/x"
mke2fs -q -F -t ext4 -d "$WORK/lowersrc" "$WORK/lower.img" 16M

mount_image ext4 "$WORK/lower.img" "$WORK/lower" ro
mkdir -p "$WORK/up"
uploop=$(losetup --find --show "$up")
_loops+=("$uploop")
mount -t ext4 "$uploop" "$WORK/up"
_mounts+=("$WORK/up")
[[ -d $WORK/up/upper && -d $WORK/up/work ]] || fail "upper/ and work/ missing"

merged=$WORK/merged
opts="lowerdir=$WORK/lower,upperdir=$WORK/up/upper,workdir=$WORK/up/work"
mkdir -p "$merged"
mount -t overlay overlay -o "$opts" "$merged"
_mounts+=("$merged")
(
  cd "$merged"
  echo created >created
  echo more >>edit
  rm remove
  mv keep kept
  mv dir renamed
  rm -r emptied
  mkdir -p a/b
  head -c 3000000 /dev/urandom >a/b/big
)
umount "$merged"
mount -t overlay overlay -o "$opts" "$merged"
[[ $(cat "$merged/created") == created ]] || fail "new file lost"
[[ $(cat "$merged/edit") == $'edit\nmore' ]] || fail "copy-up lost"
[[ $(cat "$merged/kept") == keep && ! -e $merged/keep ]] || fail "rename lost"
[[ $(cat "$merged/renamed/inner") == inner && ! -e $merged/dir ]] || fail "directory rename lost"
[[ ! -e $merged/remove && ! -e $merged/emptied ]] || fail "deletes lost"
[[ $(stat -c %s "$merged/a/b/big") -eq 3000000 ]] || fail "big file lost"
[[ $(stat -c %t:%T "$WORK/up/upper/remove") == 0:0 ]] || fail "no whiteout in the upper"
umount "$merged"
umount "$WORK/up"
e2fsck -fn "$up" >"$WORK/fsck" 2>&1 || { cat "$WORK/fsck"; fail "e2fsck after overlay use"; }

# Sizes and identity.
"$VMIMAGE" upper create "$WORK/u1.img" --size 64M --uuid 01234567-89ab-cdef-0123-456789abcdef \
  --label scratch >/dev/null
[[ $(blkid -p -s UUID -o value "$WORK/u1.img") == 01234567-89ab-cdef-0123-456789abcdef ]] || fail "--uuid"
[[ $(blkid -p -s LABEL -o value "$WORK/u1.img") == scratch ]] || fail "--label"
[[ $(stat -c %s "$WORK/u1.img") -eq $((64 << 20)) ]] || fail "64M is not 64 MiB"
"$VMIMAGE" upper create "$WORK/r1.img" --size 100M --uuid random >/dev/null
"$VMIMAGE" upper create "$WORK/r2.img" --size 100M --uuid random >/dev/null
[[ $(blkid -p -s UUID -o value "$WORK/r1.img") != $(blkid -p -s UUID -o value "$WORK/r2.img") ]] \
  || fail "random UUIDs are equal"
"$VMIMAGE" upper create "$WORK/d1.img" --size 128M >/dev/null
"$VMIMAGE" upper create "$WORK/d2.img" --size 128M >/dev/null
cmp "$WORK/d1.img" "$WORK/d2.img" || fail "same options, different bytes"
"$VMIMAGE" --json upper create "$WORK/j.img" --size 32M >"$WORK/json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["size_bytes"] == 32 << 20, d' \
  "$WORK/json" || fail "--json output"

set +e
"$VMIMAGE" upper create "$WORK/bad.img" --size 10X 2>"$WORK/err"; code=$?
set -e
[[ $code -eq 2 ]] || fail "bad size exit code $code"
grep -q 'invalid size "10X"' "$WORK/err" || fail "bad size message: $(cat "$WORK/err")"
expect_fail "$VMIMAGE" upper create "$WORK/tiny.img" --size 1M
grep -q "too small" "$WORK/err" || fail "tiny size message: $(cat "$WORK/err")"
[[ ! -e $WORK/tiny.img && ! -e $WORK/bad.img ]] || fail "failed creates left files"
ls -a "$WORK" | grep -q '\.tmp-' && fail "temporary files left behind"
log "ok"
