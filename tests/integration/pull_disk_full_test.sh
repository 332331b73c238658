#!/usr/bin/env bash
# A store on a small filesystem: a pull that does not fit fails with a clear
# error, and the store stays as it was (earlier images intact, verify clean,
# nothing half-written left after gc).
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root
source "$TOOLS/registry/registry.sh"
source "$VMIMAGE_SOURCE_DIR/tests/integration/image_check.sh"

truncate -s 24M "$WORK/small.img"
mkfs.ext4 -q -F "$WORK/small.img"
loop=$(losetup --find --show "$WORK/small.img")
_loops+=("$loop")
mkdir -p "$WORK/small"
mount "$loop" "$WORK/small"
_mounts+=("$WORK/small")
cache="$WORK/small/cache"
vmi() { "$VMIMAGE" --cache-dir "$cache" "$@"; }

python3 "$TOOLS/make_layers.py" all "$WORK/layers"
m="$WORK/layers/stacks/main"
python3 "$TOOLS/make_layers.py" many 3000 60 >"$WORK/big.tar"
start_registry "$WORK/reg"
reg="127.0.0.1:$REGISTRY_PORT"
python3 "$TOOLS/pack_image.py" "$WORK/oci" small "$m/1.tar" "$m/2.tar" >/dev/null
push_layout "$WORK/oci" small "$reg/test/small:v1"
python3 "$TOOLS/tree_manifest.py" tar --mode merged "$m/1.tar" "$m/2.tar" >"$WORK/small.want"
python3 "$TOOLS/pack_image.py" "$WORK/oci" big "$m/1.tar" "$WORK/big.tar" >/dev/null
push_layout "$WORK/oci" big "$reg/test/big:v1"

vmi -q pull "$reg/test/small:v1" >/dev/null || fail "the small image should fit"
expect_fail vmi pull "$reg/test/big:v1"
grep -qE 'vmimage: (store save|io).*(No space left|space)' "$WORK/err" ||
  fail "no clear disk-full error: $(cat "$WORK/err")"
if vmi inspect "$reg/test/big:v1" >/dev/null 2>&1; then fail "the failed image was recorded"; fi
vmi verify >/dev/null || fail "verify after the failed pull"
check_image "$reg/test/small:v1" small "$WORK/small.want"
vmi gc >/dev/null || fail "gc"
left=$(find "$cache/tmp" -type f | wc -l)
[[ $left == 0 ]] || fail "$left temp files left"
log ok
