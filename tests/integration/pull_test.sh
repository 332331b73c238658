#!/usr/bin/env bash
# Pull from a real docker-registry (fed by skopeo): for every layout the image's
# lowers, stacked with overlayfs (or mounted alone when there is one), equal the
# OCI result of applying the layer tars (tree_manifest.py tar --mode merged).
# Then sharing, rm, gc, and cache hits without the registry.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root
source "$TOOLS/registry/registry.sh"
source "$VMIMAGE_SOURCE_DIR/tests/integration/image_check.sh"

python3 "$TOOLS/make_layers.py" all "$WORK/layers"
start_registry "$WORK/reg"
reg="127.0.0.1:$REGISTRY_PORT"
cache="$WORK/cache"
vmi() { "$VMIMAGE" --cache-dir "$cache" "$@"; }

stacks=()
compress=(gzip zstd none)
k=0
for dir in "$WORK"/layers/stacks/*/; do
  stack=$(basename "$dir")
  n=$(ls "$dir"/*.tar | wc -l)
  tars=()
  for i in $(seq 1 "$n"); do tars+=("$dir/$i.tar"); done
  python3 "$TOOLS/pack_image.py" "$WORK/oci" "$stack" "${tars[@]}" \
    --compress "${compress[k % 3]}" --user 1000:1000 --workdir /app \
    --entrypoint '["/bin/sh","-c"]' --cmd '["echo hi"]' --env A=1 --env B=x=y >/dev/null
  push_layout "$WORK/oci" "$stack" "$reg/test/$stack:v1"
  python3 "$TOOLS/tree_manifest.py" tar --mode merged "${tars[@]}" >"$WORK/$stack.want"
  stacks+=("$stack")
  k=$((k + 1))
done
[[ ${#stacks[@]} -ge 2 ]] || fail "only ${#stacks[@]} stacks"

for layout in squashed layered auto:2; do
  for stack in "${stacks[@]}"; do
    ref="$reg/test/$stack:v1"
    log "pull $stack --layout $layout"
    vmi -q pull --force --layout "$layout" "$ref" >"$WORK/digest" || fail "$stack: pull failed"
    grep -qE '^sha256:[0-9a-f]{64}$' "$WORK/digest" || fail "pull printed $(cat "$WORK/digest")"
    check_image "$ref" "$stack-${layout/:/}" "$WORK/$stack.want"
    count=$LOWER_COUNT
    layers=$(json_get "$WORK/$stack-${layout/:/}.json" 'len(d["canonical_layers"])')
    case $layout in
      squashed) [[ $count == 1 ]] || fail "squashed gave $count lowers" ;;
      layered) [[ $count == "$layers" ]] || fail "layered gave $count lowers for $layers layers" ;;
      auto:2) [[ $count -le 2 ]] || fail "auto:2 gave $count lowers" ;;
    esac
  done
done

# The OCI config reaches inspect.
j="$WORK/${stacks[0]}-squashed.json"
[[ $(json_get "$j" 'd["oci"]["user"]') == 1000:1000 ]] || fail "user: $(json_get "$j" 'd["oci"]')"
[[ $(json_get "$j" 'd["oci"]["working_dir"]') == /app ]] || fail "working_dir"
[[ $(json_get "$j" 'd["oci"]["env"]["B"]') == x=y ]] || fail "env"
[[ $(json_get "$j" 'd["oci"]["entrypoint"]') == $'/bin/sh\n-c' ]] || fail "entrypoint"
[[ $(json_get "$j" 'd["source"]') == registry ]] || fail "source"

# Sharing: an image made of the first two layers of another shares their blobs.
main="$WORK/layers/stacks/${stacks[0]}"
python3 "$TOOLS/pack_image.py" "$WORK/oci" base "$main/1.tar" "$main/2.tar" >/dev/null
push_layout "$WORK/oci" base "$reg/test/base:v1"
vmi -q pull "$reg/test/base:v1" >/dev/null || fail "pull base"
vmi --json inspect "$reg/test/base:v1" >"$WORK/base.json"
vmi --json inspect "$reg/test/${stacks[0]}:v1" >"$WORK/top.json"
base_layers=$(json_get "$WORK/base.json" '[l["path"] for l in d["canonical_layers"]]')
top_layers=$(json_get "$WORK/top.json" '[l["path"] for l in d["canonical_layers"][:2]]')
[[ "$base_layers" == "$top_layers" ]] || fail "shared layers are not shared: $base_layers vs $top_layers"

# A config whose DiffID does not match its layer: a clear error, nothing recorded.
python3 "$TOOLS/registry/make_image.py" "$WORK/bad" --tag v1 --layer gzip:1:3:10000 \
  --layer gzip:2:2:1000 --bad-diffid 1 >/dev/null
push_layout "$WORK/bad" v1 "$reg/test/bad:v1"
expect_fail vmi pull "$reg/test/bad:v1"
grep -q 'DiffID' "$WORK/err" || fail "wrong DiffID: $(cat "$WORK/err")"
if vmi inspect "$reg/test/bad:v1" >/dev/null 2>&1; then fail "an image with a bad DiffID was recorded"; fi
vmi verify >/dev/null || fail "verify after a bad DiffID"

# A blob deleted behind the store's back is pulled again, not handed out.
lost=$(json_get "$WORK/base.json" 'd["lower_paths"][0]')
rm -f "$lost"
vmi -q pull "$reg/test/base:v1" >/dev/null || fail "pull after a lost blob"
[[ -f $lost ]] || fail "the lost blob was not restored"
vmi verify >/dev/null || fail "verify after restoring a lost blob"

# Cached: with the registry gone, a pull is answered from the store.
stop_registry
vmi --json pull "$reg/test/base:v1" >"$WORK/cached.json" || fail "cached pull failed offline"
[[ $(json_get "$WORK/cached.json" 'd["cached"]') == True ]] || fail "not cached: $(cat "$WORK/cached.json")"

# rm keeps what other images use; rm of everything then gc leaves no blob.
vmi rm "$reg/test/${stacks[0]}:v1" || fail "rm"
vmi verify || fail "verify after rm"
for f in $base_layers; do [[ -f $f ]] || fail "rm removed a shared blob $f"; done
vmi -q ls --json >"$WORK/ls.json"
for stack in "${stacks[@]:1}"; do vmi rm "$reg/test/$stack:v1" || fail "rm $stack"; done
vmi rm "$reg/test/base:v1" || fail "rm base"
vmi gc >/dev/null || fail "gc"
left=$(find "$cache/blobs" -type f | wc -l)
[[ $left == 0 ]] || fail "$left blobs left after removing every image: $(ls "$cache/blobs")"
expect_fail vmi rm "$reg/test/base:v1"
grep -q 'image not found' "$WORK/err" || fail "rm of an unknown tag: $(cat "$WORK/err")"
log "ok: ${#stacks[@]} stacks x 3 layouts"
