#!/usr/bin/env bash
# Deep and long paths (docs/security.md): a layer whose one file sits tens of
# thousands of directories deep is refused by default with an error naming the
# limit, never a crash (SIGSEGV from recursion) or a runaway (memory growing
# with the square of the depth). With the limits raised, every path through
# the code (mkfs, --lower, import in each layout, ext4, export) stays linear:
# they finish inside a memory cap and the kernel mounts the results.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root
H="$TOOLS/hostile/make_hostile.py"
cache="$WORK/cache"
vmi() { "$VMIMAGE" --cache-dir "$cache" "$@"; }
raised=(--limit max-path-bytes=1M --limit max-path-depth=1000000)
# A cap that the quadratic cost of 8ff0521 passes (1.78 GB RSS at 40,000 levels).
cap() { (ulimit -v 1500000 && timeout 120 "$@"); }

# expect_refused NAME CMD...: exits 1 (not a signal, not a timeout) naming a path limit.
expect_refused() {
  local name=$1 rc=0
  shift
  cap "$@" 2>"$WORK/err" || rc=$?
  [[ $rc == 1 ]] || fail "$name: exit code $rc, want 1: $(head -c 600 "$WORK/err")"
  grep -q 'limit max-path-' "$WORK/err" || fail "$name: message: $(head -c 600 "$WORK/err")"
  [[ $(wc -c <"$WORK/err") -lt 2000 ]] || fail "$name: a message of $(wc -c <"$WORK/err") bytes"
}

# walk_deep DIR DEPTH: the kernel resolves DIR/d/d/.../f (one openat per level).
walk_deep() {
  python3 - "$1" "$2" <<'PY' || fail "walking $1 to depth $2"
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
for _ in range(int(sys.argv[2])):
    nxt = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nxt
f = os.open("f", os.O_RDONLY, dir_fd=fd)
assert os.read(f, 10) == b"ok", "content"
PY
}

python3 "$H" deep "$WORK/deep20k.tar.gz" 20000 --gzip
python3 "$H" deep "$WORK/deep40k.tar" 40000
python3 "$H" deep "$WORK/deep100k.tar" 100000
python3 "$H" longname "$WORK/long.tar" 500000
[[ $(stat -c %s "$WORK/deep20k.tar.gz") -lt 400 ]] || fail "the 20k-deep layer should be tiny"

log "default limits: refused with a clear error, inside the memory cap"
expect_refused "mkfs 40k deep" "$VMIMAGE" mkfs "$WORK/deep40k.tar" "$WORK/o.erofs"
expect_refused "mkfs --type ext4 40k deep" "$VMIMAGE" mkfs --type ext4 "$WORK/deep40k.tar" "$WORK/o.ext4"
expect_refused "mkfs GNU longname of 500k levels" "$VMIMAGE" mkfs "$WORK/long.tar" "$WORK/o.erofs"
[[ ! -e "$WORK/o.erofs" && ! -e "$WORK/o.ext4" ]] || fail "a refused mkfs left an output"

python3 "$TOOLS/pack_image.py" "$WORK/layout" deep "$WORK/deep20k.tar.gz" --compress gzipped \
  >/dev/null
for layout in layered squashed; do
  expect_refused "import --layout $layout" "$VMIMAGE" --cache-dir "$cache" import \
    --layout "$layout" "deep-$layout:v1" "$WORK/layout"
done
expect_refused "import --fs ext4" "$VMIMAGE" --cache-dir "$cache" import --fs ext4 deep-ext4:v1 \
  "$WORK/layout"
vmi ls --json | grep -q deep && fail "a refused import was recorded"

log "raised limits: 100,000 levels convert in linear time and memory; the kernel walks them"
cap "$VMIMAGE" "${raised[@]}" mkfs "$WORK/deep100k.tar" "$WORK/deep100k.erofs" >/dev/null ||
  fail "mkfs of 100k levels with raised limits"
mount_image erofs "$WORK/deep100k.erofs" "$WORK/m100k"
walk_deep "$WORK/m100k" 100000
cap "$VMIMAGE" "${raised[@]}" mkfs --type ext4 "$WORK/deep40k.tar" "$WORK/deep40k.ext4" \
  >/dev/null || fail "mkfs --type ext4 of 40k levels"
e2fsck -fn "$WORK/deep40k.ext4" >/dev/null 2>&1 || fail "e2fsck of the deep ext4"
mount_image ext4 "$WORK/deep40k.ext4" "$WORK/m40k"
walk_deep "$WORK/m40k" 40000

log "raised limits: a layer merged over a deep lower (--lower)"
printf 'top' >"$WORK/top.txt"
tar -C "$WORK" -cf "$WORK/top.tar" top.txt
cap "$VMIMAGE" "${raised[@]}" mkfs --lower "$WORK/deep100k.erofs" "$WORK/top.tar" \
  "$WORK/top.erofs" >/dev/null || fail "mkfs --lower over 100k levels"

log "raised limits: import in every layout and as ext4, then export"
gzip -nc "$WORK/top.tar" >"$WORK/top.tar.gz"
python3 "$TOOLS/pack_image.py" "$WORK/layout2" deep2 "$WORK/deep20k.tar.gz" "$WORK/top.tar.gz" \
  --compress gzipped >/dev/null
for layout in layered squashed; do
  cap "$VMIMAGE" --cache-dir "$cache" "${raised[@]}" -q import --layout "$layout" \
    "deep-$layout:v1" "$WORK/layout2" || fail "import --layout $layout of a 20k-deep layer"
done
cap "$VMIMAGE" --cache-dir "$cache" "${raised[@]}" -q import --fs ext4 deep-ext4:v1 \
  "$WORK/layout2" || fail "import --fs ext4 of a 20k-deep layer"
vmi inspect deep-squashed:v1 >"$WORK/sq.json"
squashed=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["lower_paths"][0])' \
  "$WORK/sq.json")
mount_image erofs "$squashed" "$WORK/msq"
walk_deep "$WORK/msq" 20000
[[ $(cat "$WORK/msq/top.txt") == top ]] || fail "the squashed lower lacks the top layer"
cap "$VMIMAGE" --cache-dir "$cache" "${raised[@]}" -q export deep-layered:v1 \
  "$WORK/export.ext4" --type ext4 || fail "export of the deep image"
mount_image ext4 "$WORK/export.ext4" "$WORK/mexp"
walk_deep "$WORK/mexp" 20000
echo PASS
