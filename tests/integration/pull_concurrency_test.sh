#!/usr/bin/env bash
# Several vmimage processes pulling images that share layers into one store,
# with gc looping beside them; then kill -9 of pulls at several moments. After
# all of it: verify is clean, every image mounts and equals the OCI result, and
# gc removes the leftovers of the killed pulls.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root
source "$TOOLS/registry/registry.sh"
source "$VMIMAGE_SOURCE_DIR/tests/integration/image_check.sh"

make_scratch_fs 4G
cache="$WORK/scratch/cache"
vmi() { "$VMIMAGE" --cache-dir "$cache" "$@"; }
python3 "$TOOLS/make_layers.py" all "$WORK/layers"
m="$WORK/layers/stacks/main"
python3 "$TOOLS/make_layers.py" many 6000 40 >"$WORK/big.tar"
start_registry "$WORK/reg"
reg="127.0.0.1:$REGISTRY_PORT"

# Images sharing their bottom layers: a(1,2), b(1,2,3), c(1,2,3,4), big(1,2,big).
declare -A images=([a]="1 2" [b]="1 2 3" [c]="1 2 3 4")
for name in a b c; do
  tars=()
  for i in ${images[$name]}; do tars+=("$m/$i.tar"); done
  python3 "$TOOLS/pack_image.py" "$WORK/oci" "$name" "${tars[@]}" >/dev/null
  push_layout "$WORK/oci" "$name" "$reg/test/$name:v1"
  python3 "$TOOLS/tree_manifest.py" tar --mode merged "${tars[@]}" >"$WORK/$name.want"
done
python3 "$TOOLS/pack_image.py" "$WORK/oci" big "$m/1.tar" "$m/2.tar" "$WORK/big.tar" >/dev/null
push_layout "$WORK/oci" big "$reg/test/big:v1"
python3 "$TOOLS/tree_manifest.py" tar --mode merged "$m/1.tar" "$m/2.tar" "$WORK/big.tar" \
  >"$WORK/big.want"

log "concurrent pulls with gc looping"
( for _ in $(seq 1 200); do vmi gc >/dev/null 2>&1 || true; done ) &
gc_pid=$!
on_exit "kill $gc_pid 2>/dev/null"
pids=()
for round in 1 2; do
  for name in a b c big; do
    vmi -q pull --force "$reg/test/$name:v1" >"$WORK/pull-$name-$round.out" 2>&1 &
    pids+=($!)
  done
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent pull failed: $(cat "$WORK"/pull-*.out)"; done
kill "$gc_pid" 2>/dev/null; wait "$gc_pid" 2>/dev/null || true
vmi verify >"$WORK/verify" || fail "verify after concurrent pulls: $(cat "$WORK/verify")"
for name in a b c big; do check_image "$reg/test/$name:v1" "conc-$name" "$WORK/$name.want"; done

log "kill -9 during pulls"
vmi rm "$reg/test/big:v1" >/dev/null
vmi gc >/dev/null
for delay in 0.05 0.2 0.5 1 2; do
  vmi -q pull --force --layout layered "$reg/test/big:v1" >/dev/null 2>&1 &
  p=$!
  sleep "$delay"
  kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  vmi verify >"$WORK/verify" || fail "verify after kill at ${delay}s: $(cat "$WORK/verify")"
  vmi ls >/dev/null || fail "ls after kill at ${delay}s"
done
vmi -q pull --force "$reg/test/big:v1" >/dev/null || fail "pull after the kills"
check_image "$reg/test/big:v1" "after-kill" "$WORK/big.want"
vmi gc >/dev/null || fail "gc"
left=$(find "$cache/tmp" -type f 2>/dev/null | wc -l)
[[ $left == 0 ]] || fail "gc left $left temp files: $(ls "$cache/tmp")"
vmi verify >/dev/null || fail "final verify"
log ok
