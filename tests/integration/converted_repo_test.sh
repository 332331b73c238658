#!/usr/bin/env bash
# Convert once, share everywhere: `pull --converted-repo REPO [--publish]`
# against a real docker-registry, with stores as hosts. Host A converts and
# publishes (the converted manifest's subject is the source's, listed in the
# referrers tag index, since Distribution 2.8 has no referrers API); host B
# finds it and pulls it with no conversion, A's blobs byte for byte, the OCI
# result through the kernel. No hit: a normal conversion, nothing published.
# Publishers racing on one source agree (byte-identical manifests) and keep
# each other's index entries. Through a proxy that adds the referrers API in
# front of the same registry, publish and lookup use the API.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root
source "$TOOLS/registry/registry.sh"

python3 "$TOOLS/make_layers.py" all "$WORK/layers"
dir="$WORK/layers/stacks/main"
tars=()
for i in $(seq 1 "$(ls "$dir"/*.tar | wc -l)"); do tars+=("$dir/$i.tar"); done
python3 "$TOOLS/pack_image.py" "$WORK/oci" main "${tars[@]}" --compress gzip --user 1000:1000 >/dev/null
python3 "$TOOLS/tree_manifest.py" tar --mode merged "${tars[@]}" | grep -v $'^/\t' >"$WORK/want"
start_registry "$WORK/reg"
R=127.0.0.1:$REGISTRY_PORT
push_layout "$WORK/oci" main "$R/src/main:v1"
SRC=$R/src/main:v1
n=${#tars[@]}

# host NAME ARGS...: vmimage with host NAME's store; stderr (the events) in $WORK/NAME.events.
host() {
  local name=$1
  shift
  "$VMIMAGE" --cache-dir "$WORK/host-$name" "$@" 2>"$WORK/$name.events"
}
conversions() { grep -c 'completing filesystem' "$WORK/$1.events" || true; }
# index REPO SOURCE_DIGEST: the referrers tag index of the source in REPO (or nothing).
index() {
  curl -fsS -H 'Accept: application/vnd.oci.image.index.v1+json' \
    "http://$R/v2/$1/manifests/sha256-${2#sha256:}" 2>/dev/null || true
}

log "host A: no converted image yet, so it converts, then publishes for the others"
host a pull --layout layered --converted-repo "$R/converted/main" --publish "$SRC" >/dev/null ||
  fail "A: $(cat "$WORK/a.events")"
[[ $(conversions a) == "$n" ]] || fail "A converted $(conversions a) layers of $n"
grep -q 'published the converted image' "$WORK/a.events" || fail "A did not publish: $(cat "$WORK/a.events")"
"$VMIMAGE" --cache-dir "$WORK/host-a" --json inspect "$SRC" >"$WORK/a.json"
source_digest=$(json_get "$WORK/a.json" 'd["digest"]')
index converted/main "$source_digest" >"$WORK/index.json"
[[ -s $WORK/index.json ]] || fail "no referrers tag index for $source_digest"
[[ $(json_get "$WORK/index.json" 'len(d["manifests"])') == 1 ]] || fail "index: $(cat "$WORK/index.json")"
[[ $(json_get "$WORK/index.json" 'd["manifests"][0]["artifactType"]') == application/vnd.vmimage.erofs.v1 ]] ||
  fail "artifactType: $(cat "$WORK/index.json")"
[[ $(json_get "$WORK/index.json" 'd["manifests"][0]["annotations"]["io.vmimage.layout"]') == layered ]] ||
  fail "layout annotation: $(cat "$WORK/index.json")"
converted=$(json_get "$WORK/index.json" 'd["manifests"][0]["digest"]')
curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$R/v2/converted/main/manifests/$converted" >"$WORK/converted.json" || fail "the listed manifest is not there"
[[ $(json_get "$WORK/converted.json" 'd["subject"]["digest"]') == "$source_digest" ]] || fail "subject"
[[ $(json_get "$WORK/converted.json" 'd["subject"]["size"]') == $(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$R/v2/src/main/manifests/$source_digest" | wc -c) ]] || fail "subject size"

log "host B finds it and pulls it: no conversion, A's blobs, the OCI result"
host b pull --layout layered --converted-repo "$R/converted/main" "$SRC" >/dev/null || fail "B: $(cat "$WORK/b.events")"
grep -q "found a converted image, $converted" "$WORK/b.events" || fail "B did not find it: $(cat "$WORK/b.events")"
[[ $(conversions b) == 0 ]] || fail "B converted $(conversions b) layers"
"$VMIMAGE" --cache-dir "$WORK/host-b" --json inspect "$SRC" >"$WORK/b.json"
[[ $(json_get "$WORK/b.json" 'd["digest"]') == "$source_digest" ]] || fail "B records another digest"
mapfile -t a_blobs < <(json_get "$WORK/a.json" '[l["path"] for l in d["canonical_layers"]]')
mapfile -t b_blobs < <(json_get "$WORK/b.json" '[l["path"] for l in d["canonical_layers"]]')
for i in "${!a_blobs[@]}"; do
  cmp -s "${a_blobs[i]}" "${b_blobs[i]}" || fail "layer $i: B's blob differs from A's"
done
tree_of "$WORK/b.json" b-tree
python3 "$TOOLS/tree_manifest.py" diff --ignore nlink "$WORK/b-tree" "$WORK/want" || fail "B's tree"
[[ $(json_get "$WORK/b.json" 'd["oci"]["user"]') == 1000:1000 ]] || fail "B lost the source's config"

log "host C wants squashed: the layered converted image serves, squashed here without converting"
host c pull --layout squashed --converted-repo "$R/converted/main" "$SRC" >/dev/null || fail "C: $(cat "$WORK/c.events")"
grep -q 'found a converted image' "$WORK/c.events" || fail "C did not find it"
[[ $(conversions c) == 0 ]] || fail "C converted"
"$VMIMAGE" --cache-dir "$WORK/host-c" --json inspect "$SRC" >"$WORK/c.json"
tree_of "$WORK/c.json" c-tree
python3 "$TOOLS/tree_manifest.py" diff "$WORK/c-tree" "$WORK/want" || fail "C's squash"

log "no hit: an ordinary conversion, and without --publish nothing is published"
host d pull --converted-repo "$R/empty/main" "$SRC" >/dev/null || fail "D: $(cat "$WORK/d.events")"
[[ $(conversions d) == "$n" ]] || fail "D converted $(conversions d) layers"
! grep -q 'found a converted\|published' "$WORK/d.events" || fail "D: $(cat "$WORK/d.events")"
[[ -z $(index empty/main "$source_digest") ]] || fail "D published without --publish"
expect_fail "$VMIMAGE" --cache-dir "$WORK/host-d" pull --publish "$SRC"
grep -q -- '--publish needs --converted-repo' "$WORK/err" || fail "--publish alone: $(cat "$WORK/err")"

log "three hosts publish the same source at once (two layered, one squashed): they agree, no entry is lost"
for h in e f g; do
  layout=layered
  [[ $h == f ]] && layout=squashed
  host "$h" pull --layout "$layout" --converted-repo "$R/race/main" --publish "$SRC" >/dev/null &
  eval "pid_$h=$!"
done
for h in e f g; do
  eval "wait \$pid_$h" || fail "publisher $h: $(cat "$WORK/$h.events")"
done
index race/main "$source_digest" >"$WORK/race.json"
[[ $(json_get "$WORK/race.json" 'sorted(m["annotations"]["io.vmimage.layout"] for m in d["manifests"])') == "$(printf 'layered\nsquashed')" ]] ||
  fail "race index: $(cat "$WORK/race.json")"
[[ $(json_get "$WORK/race.json" '[m["digest"] for m in d["manifests"] if m["annotations"]["io.vmimage.layout"] == "layered"][0]') == "$converted" ]] ||
  fail "hosts converting the same source published different manifests"

log "through a proxy with the referrers API: publish and lookup use it, no tag index is written"
start_python_server referrers referrers_proxy.py --upstream "$R" --log "$WORK/proxy.log" --lifetime 300
P=127.0.0.1:$SERVER_PORT
"$VMIMAGE" --cache-dir "$WORK/host-h" pull --layout layered --converted-repo "$P/api/main" --publish "$P/src/main:v1" \
  >/dev/null 2>"$WORK/h.events" || fail "H: $(cat "$WORK/h.events")"
grep -q 'published' "$WORK/h.events" || fail "H did not publish"
[[ -z $(index api/main "$source_digest") ]] || fail "a tag index was written although the registry has the API"
"$VMIMAGE" --cache-dir "$WORK/host-i" pull --layout layered --converted-repo "$P/api/main" "$P/src/main:v1" \
  >/dev/null 2>"$WORK/i.events" || fail "I: $(cat "$WORK/i.events")"
grep -q "found a converted image, $converted" "$WORK/i.events" || fail "I did not find it through the API: $(cat "$WORK/i.events")"
[[ $(conversions i) == 0 ]] || fail "I converted"
grep -q "\"GET\", \"path\": \"/v2/api/main/referrers/$source_digest" "$WORK/proxy.log" ||
  fail "the lookup did not use the referrers API"
! grep -q "manifests/sha256-" "$WORK/proxy.log" || fail "the tag schema was used although the API answered"
