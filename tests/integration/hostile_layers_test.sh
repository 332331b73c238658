#!/usr/bin/env bash
# Hostile layer contents through `vmimage mkfs`, both filesystems
# (docs/security.md): inode-heavy layers fit ext4; what a filesystem cannot
# store exactly (device numbers, xattr names, symlink targets) is refused by
# both with the same words; a gigabyte of zeros stays holes (no full disk); the
# layer size and trailing-byte limits end a bomb and an endless stream; SIGTERM
# leaves no temporary file; a whiteout of a 255-byte name works.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root
H="$TOOLS/hostile/make_hostile.py"

# refused_by_both TAR WORDS: mkfs --type erofs and --type ext4 both fail with WORDS.
refused_by_both() {
  local tar=$1 words=$2 type
  for type in erofs ext4; do
    expect_fail "$VMIMAGE" mkfs --type "$type" "$tar" "$WORK/refused.$type"
    grep -qF -- "$words" "$WORK/err" || fail "$type, $(basename "$tar"): $(cat "$WORK/err")"
    [[ ! -e "$WORK/refused.$type" ]] || fail "$type left an output for $(basename "$tar")"
  done
}

log "ext4 holds layers of many inodes and little data"
python3 "$H" files "$WORK/files.tar" 40000
python3 "$H" files "$WORK/links.tar" 100000 --symlinks
for t in files links; do
  "$VMIMAGE" -q mkfs --type ext4 "$WORK/$t.tar" "$WORK/$t.ext4" || fail "mkfs --type ext4 $t"
  e2fsck -fn "$WORK/$t.ext4" >/dev/null 2>&1 || fail "e2fsck $t"
  mount_image ext4 "$WORK/$t.ext4" "$WORK/m-$t"
done
[[ $(ls "$WORK/m-files/d" | wc -l) == 40000 ]] || fail "not 40000 files"
[[ $(find "$WORK/m-links/d" -type l | wc -l) == 100000 ]] || fail "not 100000 symlinks"

log "device numbers, xattr names and symlink targets: exact, or refused by both alike"
python3 "$H" device "$WORK/dev-major.tar" 4096 0
python3 "$H" device "$WORK/dev-minor.tar" 1 1048576
python3 "$H" device "$WORK/dev-max.tar" 4095 1048575
python3 "$H" xattr "$WORK/xattr-long.tar" "user.$(printf 'n%.0s' $(seq 300))"
python3 "$H" xattr "$WORK/xattr-ns.tar" "vendor.flag"
python3 "$H" symlink "$WORK/link-4096.tar" 4096
python3 "$H" symlink "$WORK/link-4095.tar" 4095
refused_by_both "$WORK/dev-major.tar" "device number 4096:0 does not fit"
refused_by_both "$WORK/dev-minor.tar" "device number 1:1048576 does not fit"
refused_by_both "$WORK/xattr-long.tar" "bytes; Linux allows at most 255"
refused_by_both "$WORK/xattr-ns.tar" "is in no namespace both EROFS and ext4 keep"
refused_by_both "$WORK/link-4096.tar" "symlink target of 4096 bytes"
for type in erofs ext4; do
  "$VMIMAGE" -q mkfs --type "$type" "$WORK/dev-max.tar" "$WORK/dev.$type" || fail "dev-max $type"
  mount_image "$type" "$WORK/dev.$type" "$WORK/m-dev-$type"
  [[ $(stat -c '%t:%T' "$WORK/m-dev-$type/dev") == fff:fffff ]] ||
    fail "$type stored $(stat -c '%t:%T' "$WORK/m-dev-$type/dev") for 4095:1048575"
  "$VMIMAGE" -q mkfs --type "$type" "$WORK/link-4095.tar" "$WORK/link.$type" || fail "link $type"
  mount_image "$type" "$WORK/link.$type" "$WORK/m-link-$type"
  [[ $(readlink "$WORK/m-link-$type/link" | wc -c) == 4096 ]] || fail "$type: a 4095-byte target"
done

log "a gigabyte of zeros stays holes on the ext4 path; the layer-size limit ends a bomb"
make_scratch_fs 256M
python3 "$H" zeros "$WORK/zeros.tar.gz" 1G --gzip
"$VMIMAGE" -q mkfs --type ext4 "$WORK/zeros.tar.gz" "$WORK/scratch/zeros.ext4" ||
  fail "mkfs --type ext4 of 1 GiB of zeros on a 256 MiB filesystem"
mount_image ext4 "$WORK/scratch/zeros.ext4" "$WORK/m-zeros"
[[ $(stat -c %s "$WORK/m-zeros/zeros") == 1073741824 ]] || fail "size of the zeros file"
cmp -n 1073741824 "$WORK/m-zeros/zeros" /dev/zero || fail "the zeros read back differently"
for type in erofs ext4; do
  expect_fail "$VMIMAGE" --limit max-layer-bytes=256M mkfs --type "$type" "$WORK/zeros.tar.gz" \
    "$WORK/scratch/bomb.$type"
  grep -q "larger than 268435456 bytes (limit max-layer-bytes)" "$WORK/err" ||
    fail "$type bomb: $(cat "$WORK/err")"
done
[[ $(ls -A "$WORK/scratch" | grep -v -e lost+found -e zeros.ext4 | wc -l) == 0 ]] ||
  fail "left in the scratch fs: $(ls -A "$WORK/scratch")"

log "an endless stream after the end-of-archive marker ends on max-trailing-bytes"
rc=0
(cat "$WORK/link-4095.tar"; cat /dev/zero) |
  timeout 60 "$VMIMAGE" mkfs - "$WORK/endless.erofs" 2>"$WORK/err" || rc=$?
[[ $rc == 1 ]] || fail "endless stream: exit $rc, want 1: $(cat "$WORK/err")"
grep -q "follow the end-of-archive marker (limit max-trailing-bytes)" "$WORK/err" ||
  fail "endless stream: $(cat "$WORK/err")"

log "SIGTERM during mkfs leaves no temporary file beside the output"
mkdir -p "$WORK/sig"
mkfifo "$WORK/fifo"
"$VMIMAGE" mkfs - "$WORK/sig/out.erofs" <"$WORK/fifo" 2>/dev/null &
pid=$!
exec 3>"$WORK/fifo"   # held open: the input never ends
cat "$WORK/files.tar" >&3
for _ in $(seq 100); do
  [[ -n $(ls -A "$WORK/sig") ]] && break
  sleep 0.1
done
[[ -n $(ls -A "$WORK/sig") ]] || fail "mkfs made no temporary file"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
exec 3>&-
[[ $rc == $((128 + 15)) ]] || fail "mkfs should die of SIGTERM, exit $rc"
[[ -z $(ls -A "$WORK/sig") ]] || fail "left after SIGTERM: $(ls -A "$WORK/sig")"

log "a hardlink whose target only a pax linkpath gives: a message that says so"
python3 "$H" pax-hardlink "$WORK/pax-hardlink.tar"
expect_fail "$VMIMAGE" mkfs "$WORK/pax-hardlink.tar" "$WORK/ph.erofs"
grep -q "its target is only in a pax 'linkpath' record" "$WORK/err" || fail "$(cat "$WORK/err")"

log "a whiteout of a 255-byte name hides the file below it"
python3 "$H" whiteout "$WORK/wh.tar" 255
"$VMIMAGE" -q mkfs "$WORK/wh.tar" "$WORK/wh-lower.erofs" || fail "mkfs of the lower"
for type in erofs ext4; do
  "$VMIMAGE" -q mkfs --type "$type" --lower "$WORK/wh-lower.erofs" "$WORK/wh.tar.top" \
    "$WORK/wh-top.$type" || fail "mkfs --type $type of the 259-byte whiteout entry"
  mount_image erofs "$WORK/wh-lower.erofs" "$WORK/m-whl-$type"
  mount_image "$type" "$WORK/wh-top.$type" "$WORK/m-wht-$type"
  mount_overlay "$WORK/ovl-$type" "$WORK/m-wht-$type:$WORK/m-whl-$type"
  [[ $(ls "$WORK/ovl-$type/dir") == keep ]] || fail "$type: $(ls "$WORK/ovl-$type/dir")"
done
echo PASS
