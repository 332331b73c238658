#!/usr/bin/env bash
# vmimage mkfs --type ext4 on every single-layer case of make_layers.py: e2fsck
# -fn is clean, the image mounts, and the mounted tree equals the independent
# reference (tree_manifest.py tar --mode lower). Compressed, stdin and repeated
# runs give byte-identical images. Sizing: automatic (reported), --size (too
# small fails before writing, naming the size needed), --free; --uuid/--label.
# Stacks: ext4 layers mounted as an overlay equal the OCI result.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root

python3 "$TOOLS/make_layers.py" all "$WORK/layers"
mkdir -p "$WORK/out"
fsck_clean() { e2fsck -fn "$1" >"$WORK/fsck" 2>&1 || { cat "$WORK/fsck" >&2; fail "$2: e2fsck -fn"; }; }
checked=0
for tar in "$WORK"/layers/single/*.tar; do
  name=$(basename "$tar" .tar)
  img="$WORK/out/$name.ext4"
  log "$name"
  "$VMIMAGE" mkfs --type ext4 "$tar" "$img" >"$WORK/out/$name.log" || fail "$name: mkfs failed"
  grep -q "size chosen automatically; content needs" "$WORK/out/$name.log" ||
    fail "$name: no size report in: $(cat "$WORK/out/$name.log")"
  fsck_clean "$img" "$name"

  gzip -n -c "$tar" >"$WORK/out/$name.tar.gz"
  zstd -q -c "$tar" >"$WORK/out/$name.tar.zst"
  "$VMIMAGE" mkfs -q --type ext4 "$WORK/out/$name.tar.gz" "$img.gz"
  "$VMIMAGE" mkfs -q --type ext4 - "$img.zst" <"$WORK/out/$name.tar.zst"
  "$VMIMAGE" mkfs -q --type ext4 "$tar" "$img.again"
  for other in "$img.gz" "$img.zst" "$img.again"; do
    cmp "$img" "$other" || fail "$name: $(basename "$other") differs from the plain-file image"
  done
  rm -f "$img.gz" "$img.zst" "$img.again" "$WORK/out/$name.tar."*

  mount_image ext4 "$img" "$WORK/mnt/$name"
  python3 "$TOOLS/tree_manifest.py" dir "$WORK/mnt/$name" >"$WORK/out/$name.got"
  python3 "$TOOLS/tree_manifest.py" tar --mode lower "$tar" >"$WORK/out/$name.want"
  python3 "$TOOLS/tree_manifest.py" diff "$WORK/out/$name.got" "$WORK/out/$name.want" ||
    fail "$name: mounted image differs from the reference"
  checked=$((checked + 1))
done
[[ $checked -ge 10 ]] || fail "only $checked layers checked"

# Sizes. The automatic size and the minimum come out in --json.
tar="$WORK/layers/single/types.tar"
"$VMIMAGE" --json mkfs --type ext4 "$tar" "$WORK/out/auto.ext4" >"$WORK/out/auto.json"
read -r auto min < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]));
assert d["type"] == "ext4" and d["auto_sized"], d; print(d["image_bytes"], d["min_image_bytes"])' \
  "$WORK/out/auto.json")
log "types.tar: automatic size $auto bytes, minimum $min"
(( min < auto && auto <= min + min / 32 + 2 * 1048576 )) || fail "automatic size $auto for minimum $min"
expect_fail "$VMIMAGE" mkfs --type ext4 --size $((min - 4096)) "$tar" "$WORK/out/small.ext4"
grep -q "too small for this content: at least $min bytes" "$WORK/err" || fail "small: $(cat "$WORK/err")"
[[ ! -e $WORK/out/small.ext4 ]] || fail "a failed mkfs left its output"
ls -a "$WORK/out" | grep -q '\.tmp-' && fail "a failed mkfs left a temporary file"
"$VMIMAGE" mkfs -q --type ext4 --size "$min" "$tar" "$WORK/out/min.ext4"
fsck_clean "$WORK/out/min.ext4" "--size minimum"
"$VMIMAGE" mkfs -q --type ext4 --size 64M "$tar" "$WORK/out/64m.ext4"
[[ $(stat -c %s "$WORK/out/64m.ext4") -eq $((64 << 20)) ]] || fail "--size 64M"
fsck_clean "$WORK/out/64m.ext4" "--size 64M"
"$VMIMAGE" mkfs -q --type ext4 --free 100M "$tar" "$WORK/out/free.ext4"
mount_image ext4 "$WORK/out/free.ext4" "$WORK/mnt/free"
avail=$(df -B1 --output=avail "$WORK/mnt/free" | tail -n 1)
((avail >= 100 << 20)) || fail "--free 100M: df shows $avail bytes available"
"$VMIMAGE" mkfs -q --type ext4 --uuid 0123abcd-0000-4000-8000-00000000beef --label vmi-ext4-test \
  "$tar" "$WORK/out/labelled.ext4"
blkid -p -o export "$WORK/out/labelled.ext4" >"$WORK/out/blkid"
grep -qx 'UUID=0123abcd-0000-4000-8000-00000000beef' "$WORK/out/blkid" || fail "uuid not set"
grep -qx 'LABEL=vmi-ext4-test' "$WORK/out/blkid" || fail "label not set"
u1=$(blkid -p -s UUID -o value "$WORK/out/types.ext4")
u2=$(blkid -p -s UUID -o value "$WORK/out/names.ext4")
[[ -n "$u1" && "$u1" != "$u2" ]] || fail "derived UUIDs should differ ($u1 / $u2)"

expect_fail "$VMIMAGE" mkfs --type xfs "$tar" "$WORK/out/x.img"
grep -q 'layer fs: unsupported filesystem type "xfs"' "$WORK/err" || fail "xfs: $(cat "$WORK/err")"
expect_fail "$VMIMAGE" mkfs --size 10M "$tar" "$WORK/out/x.erofs"
grep -q -- '--size and --free apply to --type ext4 only' "$WORK/err" || fail "erofs --size"
expect_fail "$VMIMAGE" mkfs --type ext4 --size 10Q "$tar" "$WORK/out/x.ext4"
grep -q 'invalid size "10Q"' "$WORK/err" || fail "bad size: $(cat "$WORK/err")"

# Stacks: ext4 layers (context from EROFS images of the layers below) as an
# overlay equal applying the layers in order.
stacks=0
for dir in "$WORK"/layers/stacks/*/; do
  stack=$(basename "$dir")
  n=$(ls "$dir"/*.tar | wc -l)
  lower_args=()
  mounts=()
  tars=()
  for i in $(seq 1 "$n"); do
    tar="$dir/$i.tar"
    tars+=("$tar")
    "$VMIMAGE" mkfs -q "${lower_args[@]}" "$tar" "$WORK/$stack-$i.erofs"
    img="$WORK/$stack-$i.ext4"
    "$VMIMAGE" mkfs -q --type ext4 "${lower_args[@]}" "$tar" "$img" || fail "$stack/$i: mkfs"
    fsck_clean "$img" "$stack/$i"
    mount_image ext4 "$img" "$WORK/mnt/$stack-$i"
    python3 "$TOOLS/tree_manifest.py" dir "$WORK/mnt/$stack-$i" >"$WORK/$stack-$i.got"
    python3 "$TOOLS/tree_manifest.py" tar --mode lower "${tars[@]}" >"$WORK/$stack-$i.want"
    python3 "$TOOLS/tree_manifest.py" diff "$WORK/$stack-$i.got" "$WORK/$stack-$i.want" ||
      fail "$stack/$i: the ext4 layer differs from the reference lower form"
    lower_args+=(--lower "$WORK/$stack-$i.erofs")
    mounts=("$WORK/mnt/$stack-$i" "${mounts[@]}")
  done
  mount_overlay "$WORK/ovl/$stack" "$(IFS=:; echo "${mounts[*]}")"
  python3 "$TOOLS/tree_manifest.py" dir "$WORK/ovl/$stack" >"$WORK/$stack.got"
  python3 "$TOOLS/tree_manifest.py" tar --mode merged "${tars[@]}" >"$WORK/$stack.want"
  # nlink: overlayfs reports 1 for merged directories (see mkfs_stacks_test.sh).
  python3 "$TOOLS/tree_manifest.py" diff --ignore nlink "$WORK/$stack.got" "$WORK/$stack.want" ||
    fail "$stack: the overlay of ext4 layers differs from the OCI result"
  stacks=$((stacks + 1))
done
[[ $stacks -ge 2 ]] || fail "only $stacks stacks checked"
log "ok: $checked layers, $stacks stacks"
