#!/usr/bin/env bash
# push of several platforms, against a real docker-registry: a source index
# with linux/amd64 and linux/arm64 (different trees) pulled into one store for
# both platforms (the second pull is not a cache hit of the first), then
# pushed: each platform's converted manifest by digest, the same manifest a
# store holding only that platform pushes, and an OCI image index at the tag
# listing them with their platforms (per platform SRC itself, else the most
# recent stored image). Pulled back per platform into fresh
# stores: the right manifest, no conversion, the source's tree (kernel
# mounts). A second push uploads nothing; platforms stored with different
# layouts cannot go up squashed together.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root
source "$TOOLS/registry/registry.sh"

python3 "$TOOLS/registry/make_image.py" "$WORK/images" --tag v1 --platforms linux/amd64,linux/arm64 \
  --layer gzip:1:3:20000 --layer zstd:2:2:5000 --user 1000:1000 --workdir /app >"$WORK/multi.json"
start_registry "$WORK/reg"
R=127.0.0.1:$REGISTRY_PORT
push_layout "$WORK/images" v1 "$R/src/app:v1"
source_index=$(json_get "$WORK/multi.json" 'd["tag_digest"]')
amd64_source=$(json_get "$WORK/multi.json" 'd["manifests"][0]["digest"]')
arm64_source=$(json_get "$WORK/multi.json" 'd["manifests"][1]["digest"]')
ARM64=linux/arm64/v8  # linux/arm64 as vmimage names it (the config says no variant)

# get PATH OUT [ACCEPT]: a registry answer, as any client sees it.
get() {
  curl -fsS -o "$2" -H "Accept: ${3:-*/*}" "http://$R$1" || fail "GET $1"
}
OCI_INDEX=application/vnd.oci.image.index.v1+json
OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json

log "one store, both platforms: the second pull is no cache hit of the first"
A=$WORK/host-a
vmi() { "$VMIMAGE" --cache-dir "$A" "$@"; }
vmi --json pull --platform linux/amd64 --layout layered "$R/src/app:v1" >"$WORK/pull1.json" || fail "amd64 pull"
[[ $(json_get "$WORK/pull1.json" 'd["digest"]') == "$amd64_source" ]] || fail "amd64 pull: $(cat "$WORK/pull1.json")"
vmi tag "$R/src/app:v1" app:amd64
vmi --json pull --platform linux/arm64 --layout layered "$R/src/app:v1" >"$WORK/pull2.json" || fail "arm64 pull"
[[ $(json_get "$WORK/pull2.json" 'd["digest"] + " " + str(d["cached"])') == "$arm64_source False" ]] ||
  fail "the arm64 pull must give the arm64 manifest, not the cached amd64 image: $(cat "$WORK/pull2.json")"
vmi --json pull --platform linux/arm64/v8 --layout layered "$R/src/app:v1" >"$WORK/pull3.json"
[[ $(json_get "$WORK/pull3.json" 'd["digest"] + " " + str(d["cached"])') == "$arm64_source True" ]] ||
  fail "the arm64 image, asked for again, must be a cache hit: $(cat "$WORK/pull3.json")"
vmi --json inspect app:amd64 >"$WORK/src-amd64.json"
vmi --json inspect "$R/src/app:v1" >"$WORK/src-arm64.json"
tree_of "$WORK/src-amd64.json" want-amd64
tree_of "$WORK/src-arm64.json" want-arm64
! cmp -s "$WORK/want-amd64" "$WORK/want-arm64" || fail "the two platforms' trees must differ"

log "a store with one platform pushes a plain manifest (as before): the reference digests"
declare -A single
for platform in linux/amd64 $ARM64; do
  S=$WORK/single-${platform//\//-}
  "$VMIMAGE" -q --cache-dir "$S" pull --platform "$platform" --layout layered "$R/src/app:v1" >/dev/null
  "$VMIMAGE" --cache-dir "$S" --json push "$R/src/app:v1" "$R/single/app:${platform//\//-}" \
    >"$WORK/single.json" || fail "single-platform push of $platform"
  [[ $(json_get "$WORK/single.json" '"index" in d') == False ]] || fail "one platform, yet an index"
  get "/v2/single/app/manifests/${platform//\//-}" "$WORK/single-manifest.json" "$OCI_INDEX, $OCI_MANIFEST"
  [[ $(json_get "$WORK/single-manifest.json" 'd["mediaType"]') == "$OCI_MANIFEST" ]] ||
    fail "one platform: not a manifest at the tag"
  single[$platform]=$(json_get "$WORK/single.json" 'd["digest"]')
done

log "push: each platform's manifest by digest, the index at the tag"
vmi --json push "$R/src/app:v1" "$R/conv/app:v1" >"$WORK/push.json" || fail "index push"
index_digest=$(json_get "$WORK/push.json" 'd["index"]["digest"]')
[[ $(json_get "$WORK/push.json" 'd["index"]["reference"]') == "$R/conv/app:v1" ]] || fail "index reference"
[[ $(json_get "$WORK/push.json" 'd["digest"]') == "${single[$ARM64]}" ]] ||
  fail "the top-level digest must be SRC's (arm64) manifest: $(cat "$WORK/push.json")"
[[ $(json_get "$WORK/push.json" '[(p["platform"], p["image"]) for p in d["index"]["platforms"]]') == \
   "$(printf "('linux/amd64', 'app:amd64')\n('%s', '%s')" "$ARM64" "$R/src/app:v1")" ]] ||
  fail "platforms and the images pushed for them: $(cat "$WORK/push.json")"
get /v2/conv/app/manifests/v1 "$WORK/index.json" "$OCI_INDEX, $OCI_MANIFEST"
[[ sha256:$(sha256sum <"$WORK/index.json" | cut -d' ' -f1) == "$index_digest" ]] ||
  fail "the tag does not name the index push printed"
[[ $(json_get "$WORK/index.json" 'd["mediaType"]') == "$OCI_INDEX" ]] || fail "index media type"
[[ $(json_get "$WORK/index.json" '[(m["mediaType"], "/".join(m["platform"][k] for k in ("os", "architecture", "variant") if k in m["platform"]), m["digest"]) for m in d["manifests"]]') == \
   "$(printf "('%s', 'linux/amd64', '%s')\n('%s', '%s', '%s')" "$OCI_MANIFEST" "${single[linux/amd64]}" "$OCI_MANIFEST" "$ARM64" "${single[$ARM64]}")" ]] ||
  fail "the index's entries must be each platform's single-platform manifest: $(cat "$WORK/index.json")"
[[ $(json_get "$WORK/index.json" '[d["annotations"][k] for k in ("io.vmimage.source.index", "io.vmimage.format", "io.vmimage.layout", "io.vmimage.compression")]') == \
   "$(printf '%s\n1\nlayered\nnone' "$source_index")" ]] || fail "index annotations: $(cat "$WORK/index.json")"
for platform in linux/amd64 $ARM64; do
  get "/v2/conv/app/manifests/${single[$platform]}" "$WORK/m.json" "$OCI_MANIFEST"
  [[ $(json_get "$WORK/m.json" 'd["annotations"]["io.vmimage.source.index"]') == "$source_index" ]] ||
    fail "$platform's manifest does not name the source index"
done

log "a second push uploads nothing; progress names each platform and the index"
vmi --json push "$R/src/app:v1" "$R/conv/app:v1" >"$WORK/push2.json" || fail "second push"
[[ $(json_get "$WORK/push2.json" 'any(b["uploaded"] for p in d["index"]["platforms"] for b in p["layers"] + [p["config"]])') == False ]] ||
  fail "the second push uploaded: $(cat "$WORK/push2.json")"
[[ $(json_get "$WORK/push2.json" 'd["index"]["digest"]') == "$index_digest" ]] || fail "the second push gave another index"
vmi push app:amd64 "$R/conv/app:v1" >"$WORK/push3.out" 2>"$WORK/push3.err" || fail "push: $(cat "$WORK/push3.err")"
[[ $(cat "$WORK/push3.out") == "$R/conv/app:v1@$index_digest" ]] || fail "stdout: $(cat "$WORK/push3.out")"
for line in "linux/amd64 manifest ${single[linux/amd64]} stored" "$ARM64 manifest ${single[$ARM64]} stored" \
  "index $index_digest stored" "$ARM64 layer 1 [0-9a-f]*: already there"; do
  grep -qx -- "$line" "$WORK/push3.err" || fail "no line \"$line\" in: $(cat "$WORK/push3.err")"
done

log "per platform: SRC itself for its own, else the most recent stored image"
vmi tag app:amd64 app:amd64-later
vmi --json push "$R/src/app:v1" "$R/conv/app:v1" >"$WORK/push4.json" || fail "push with two amd64 images"
[[ $(json_get "$WORK/push4.json" '[p["image"] for p in d["index"]["platforms"]]') == \
   "$(printf 'app:amd64-later\n%s' "$R/src/app:v1")" ]] || fail "not the most recent amd64 image: $(cat "$WORK/push4.json")"
vmi --json push app:amd64 "$R/conv/app:v1" >"$WORK/push5.json" || fail "push of app:amd64"
[[ $(json_get "$WORK/push5.json" '[p["image"] for p in d["index"]["platforms"]] + [d["digest"], d["index"]["digest"]]') == \
   "$(printf 'app:amd64\n%s\n%s\n%s' "$R/src/app:v1" "${single[linux/amd64]}" "$index_digest")" ]] ||
  fail "SRC must stand for its own platform: $(cat "$WORK/push5.json")"

log "pulled back per platform into fresh stores: the right manifest, no conversion, the source's tree"
for platform in linux/amd64 $ARM64; do
  name=${platform//\//-}
  P=$WORK/back-$name
  "$VMIMAGE" --cache-dir "$P" pull --platform "$platform" --layout layered "$R/conv/app:v1" \
    >"$WORK/back.out" 2>"$WORK/back.err" || fail "pull back $platform: $(cat "$WORK/back.err")"
  [[ $(cat "$WORK/back.out") == "${single[$platform]}" ]] || fail "pull back $platform: $(cat "$WORK/back.out")"
  events=$(cat "$WORK/back.err")
  [[ $events != *"completing filesystem"* ]] || fail "pull back $platform converted a layer: $events"
  "$VMIMAGE" --cache-dir "$P" --json inspect "$R/conv/app:v1" >"$WORK/back-$name.json"
  checked=$(grep -c 'downloaded EROFS image, checking it' "$WORK/back.err" || true)
  [[ $checked == $(json_get "$WORK/back-$name.json" 'len(d["canonical_layers"])') ]] ||
    fail "pull back $platform: not every layer was checked: $events"
  tree_of "$WORK/back-$name.json" "got-$name"
done
python3 "$TOOLS/tree_manifest.py" diff "$WORK/got-linux-amd64" "$WORK/want-amd64" || fail "amd64 tree"
python3 "$TOOLS/tree_manifest.py" diff "$WORK/got-linux-arm64-v8" "$WORK/want-arm64" || fail "arm64 tree"

log "a platform whose stored image the layout cannot push is left out, said on stderr; src goes alone"
M=$WORK/host-m
"$VMIMAGE" -q --cache-dir "$M" pull --platform linux/amd64 --layout squashed "$R/src/app:v1" >/dev/null
"$VMIMAGE" --cache-dir "$M" tag "$R/src/app:v1" app:amd64
"$VMIMAGE" -q --cache-dir "$M" pull --platform linux/arm64 --layout layered "$R/src/app:v1" >/dev/null
"$VMIMAGE" --cache-dir "$M" push --layout squashed app:amd64 "$R/partial/app:v1" >"$WORK/partial.out" 2>"$WORK/partial.err" ||
  fail "a squashed push with an arm64 image stored layered: $(cat "$WORK/partial.err")"
grep -q "^$ARM64: left out of the index: .*has no squashed lower" "$WORK/partial.err" ||
  fail "the left-out platform is not named: $(cat "$WORK/partial.err")"
get /v2/partial/app/manifests/v1 "$WORK/partial.json" "$OCI_INDEX,$OCI_MANIFEST"
[[ $(json_get "$WORK/partial.json" 'd["mediaType"]') == "$OCI_MANIFEST" ]] ||
  fail "one platform left: a plain manifest expected, got $(json_get "$WORK/partial.json" 'd["mediaType"]')"
# SRC itself the layout cannot push: refused before anything goes up.
expect_fail "$VMIMAGE" --cache-dir "$M" push --layout squashed "$R/src/app:v1" "$R/refused/app:v1"
grep -q 'has no squashed lower' "$WORK/err" || fail "squashed push of a layered src: $(cat "$WORK/err")"
status=$(curl -s -o /dev/null -w '%{http_code}' "http://$R/v2/refused/app/tags/list")
[[ $status == 404 ]] || fail "the refused push left something in the repository (tags/list: $status)"

log "a pull without --platform: a pulled image of another platform is no hit, one tagged here is"
# Store M: $R/src/app:v1 was last pulled for arm64; app:amd64 was tagged here.
"$VMIMAGE" --cache-dir "$M" tag "$R/src/app:v1" app:arm64
"$VMIMAGE" --cache-dir "$M" --json pull --layout layered app:arm64 >"$WORK/by-name.json" ||
  fail "a tagged arm64 image pulled by its name"
[[ $(json_get "$WORK/by-name.json" 'd["digest"] + " " + str(d["cached"])') == "$arm64_source True" ]] ||
  fail "an image tagged here must be served by its name: $(cat "$WORK/by-name.json")"
if [[ $(uname -m) == x86_64 ]]; then
  "$VMIMAGE" --cache-dir "$M" --json pull --layout layered "$R/src/app:v1" >"$WORK/host.json"
  [[ $(json_get "$WORK/host.json" 'd["digest"]') == "$amd64_source" ]] ||
    fail "a pull for the host must not be served the arm64 image: $(cat "$WORK/host.json")"
fi
log "a platform asked of an image tagged here for another: an error, not a pull of whatever the name means"
expect_fail "$VMIMAGE" --cache-dir "$M" pull --platform linux/amd64 --layout layered app:arm64
grep -q "app:arm64 is an image imported or tagged here for $ARM64, not linux/amd64 (pull --force" "$WORK/err" ||
  fail "a tagged image of another platform: $(cat "$WORK/err")"
