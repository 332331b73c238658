#!/usr/bin/env bash
# Multi-layer stacks: each layer converted with --lower of the images below; each
# image mounted alone equals the reference lower form (with the layers below as
# context), and the overlayfs stack lowerdir=top:...:base equals the OCI result
# of applying the layers in order (tree_manifest.py tar --mode merged).
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root

python3 "$TOOLS/make_layers.py" all "$WORK/layers"
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
    img="$WORK/$stack-$i.erofs"
    log "$stack: layer $i"
    "$VMIMAGE" mkfs -q "${lower_args[@]}" "$tar" "$img" || fail "$stack/$i: mkfs failed"
    fsck.erofs "$img" >/dev/null || fail "$stack/$i: fsck.erofs rejects the image"
    mount_image erofs "$img" "$WORK/mnt/$stack-$i"
    python3 "$TOOLS/tree_manifest.py" dir "$WORK/mnt/$stack-$i" >"$WORK/$stack-$i.got"
    python3 "$TOOLS/tree_manifest.py" tar --mode lower "${tars[@]}" >"$WORK/$stack-$i.want"
    python3 "$TOOLS/tree_manifest.py" diff "$WORK/$stack-$i.got" "$WORK/$stack-$i.want" ||
      fail "$stack/$i: the layer image differs from the reference lower form"
    lower_args+=(--lower "$img")
    mounts=("$WORK/mnt/$stack-$i" "${mounts[@]}")
  done
  lowerdir=$(IFS=:; echo "${mounts[*]}")
  mount_overlay "$WORK/ovl/$stack" "$lowerdir"
  python3 "$TOOLS/tree_manifest.py" dir "$WORK/ovl/$stack" >"$WORK/$stack.got"
  python3 "$TOOLS/tree_manifest.py" tar --mode merged "${tars[@]}" >"$WORK/$stack.want"
  # nlink: overlayfs reports 1 for merged directories and counts names that upper
  # layers hid, so only the image-level comparison above checks it.
  python3 "$TOOLS/tree_manifest.py" diff --ignore nlink "$WORK/$stack.got" "$WORK/$stack.want" ||
    fail "$stack: the overlay stack differs from the OCI result"
  stacks=$((stacks + 1))
done
[[ $stacks -ge 2 ]] || fail "only $stacks stacks checked"

# The same main stack without --lower: the known failure the context prevents
# (notes/overlay-whiteouts.md) must show, or this test could not tell.
dir="$WORK/layers/stacks/main"
mounts=()
for i in 1 2 3 4; do
  "$VMIMAGE" mkfs -q "$dir/$i.tar" "$WORK/nc-$i.erofs"
  mount_image erofs "$WORK/nc-$i.erofs" "$WORK/mnt/nc-$i"
  mounts=("$WORK/mnt/nc-$i" "${mounts[@]}")
done
mount_overlay "$WORK/ovl/nc" "$(IFS=:; echo "${mounts[*]}")"
python3 "$TOOLS/tree_manifest.py" dir "$WORK/ovl/nc" >"$WORK/nc.got"
if python3 "$TOOLS/tree_manifest.py" diff --ignore nlink "$WORK/nc.got" "$WORK/main.want" \
  >"$WORK/nc.diff"; then
  fail "without --lower the stack should differ (broken whiteout newdir/ghost)"
fi
grep -q 'newdir/ghost' "$WORK/nc.diff" || fail "expected the broken whiteout in: $(cat "$WORK/nc.diff")"
log "ok: $stacks stacks"
