#!/usr/bin/env bash
# push to a real docker-registry: a pulled image goes up as an EROFS-native OCI
# image (layers application/vnd.erofs.layer.v1, the store's blobs byte for
# byte; the source config with rootfs.diff_ids set to their digests;
# annotations naming the source). The pushed blobs, downloaded and stacked with
# overlayfs by the kernel, give the OCI result of the source's tars. A second
# push uploads nothing; squashed pushes one layer; clear errors.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root
source "$TOOLS/registry/registry.sh"

python3 "$TOOLS/make_layers.py" all "$WORK/layers"
dir="$WORK/layers/stacks/main"
tars=()
for i in $(seq 1 "$(ls "$dir"/*.tar | wc -l)"); do tars+=("$dir/$i.tar"); done
python3 "$TOOLS/pack_image.py" "$WORK/oci" main "${tars[@]}" --compress gzip --user 1000:1000 \
  --workdir /app --entrypoint '["/bin/sh","-c"]' --cmd '["echo hi"]' --env A=1 >/dev/null
python3 "$TOOLS/tree_manifest.py" tar --mode merged "${tars[@]}" | grep -v $'^/\t' >"$WORK/want"
start_registry "$WORK/reg"
R=127.0.0.1:$REGISTRY_PORT
push_layout "$WORK/oci" main "$R/src/main:v1"
A=$WORK/host-a
vmi() { "$VMIMAGE" --cache-dir "$A" "$@"; }
vmi -q pull --layout layered "$R/src/main:v1" >/dev/null
vmi --json inspect "$R/src/main:v1" >"$WORK/src.json"
source_digest=$(json_get "$WORK/src.json" 'd["digest"]')

# get PATH OUT [ACCEPT]: a registry answer, as any client sees it.
get() {
  curl -fsS -o "$2" -H "Accept: ${3:-*/*}" "http://$R$1" || fail "GET $1"
}
OCI_MANIFEST=application/vnd.oci.image.manifest.v1+json

log "push --layout layered: every layer uploaded, the manifest as specified"
python3 "$TOOLS/io_of.py" "$WORK/p1.io" "$VMIMAGE" --cache-dir "$A" --json push "$R/src/main:v1" "$R/converted/main:v1" \
  >"$WORK/p1.json" || fail "push"
n=$(json_get "$WORK/src.json" 'len(d["canonical_layers"])')
[[ $(json_get "$WORK/p1.json" 'len(d["layers"])') == "$n" ]] || fail "pushed $(json_get "$WORK/p1.json" 'len(d["layers"])') layers of $n"
[[ $(json_get "$WORK/p1.json" 'all(l["uploaded"] for l in d["layers"]) and d["config"]["uploaded"]') == True ]] ||
  fail "a first push must upload every blob: $(cat "$WORK/p1.json")"
get /v2/converted/main/manifests/v1 "$WORK/manifest.json" "$OCI_MANIFEST"
[[ sha256:$(sha256sum <"$WORK/manifest.json" | cut -d' ' -f1) == $(json_get "$WORK/p1.json" 'd["digest"]') ]] ||
  fail "the printed digest is not the manifest's"
[[ $(json_get "$WORK/manifest.json" 'd["mediaType"]') == "$OCI_MANIFEST" ]] || fail "manifest media type"
[[ $(json_get "$WORK/manifest.json" 'set(l["mediaType"] for l in d["layers"])') == "{'application/vnd.erofs.layer.v1'}" ]] ||
  fail "layer media types: $(json_get "$WORK/manifest.json" '[l["mediaType"] for l in d["layers"]]')"
[[ $(json_get "$WORK/manifest.json" 'd["annotations"]["io.vmimage.source.manifest"]') == "$source_digest" ]] ||
  fail "source annotation"
[[ $(json_get "$WORK/manifest.json" 'd["annotations"]["io.vmimage.layout"]') == layered ]] || fail "layout annotation"

log "each layer is the store's blob, byte for byte; the config's diff_ids are their digests"
mapfile -t blobs < <(json_get "$WORK/src.json" '[l["path"] for l in d["canonical_layers"]]')
mapfile -t digests < <(json_get "$WORK/manifest.json" '[l["digest"] for l in d["layers"]]')
for i in "${!digests[@]}"; do
  get "/v2/converted/main/blobs/${digests[i]}" "$WORK/layer$i.erofs"
  cmp -s "$WORK/layer$i.erofs" "${blobs[i]}" || fail "layer $i differs from the store's blob"
done
get "/v2/converted/main/blobs/$(json_get "$WORK/manifest.json" 'd["config"]["digest"]')" "$WORK/config.json"
[[ $(json_get "$WORK/config.json" 'd["rootfs"]["diff_ids"]') == "$(printf '%s\n' "${digests[@]}")" ]] ||
  fail "diff_ids are not the layers' digests"
source_config=$WORK/oci/blobs/sha256/$(json_get "$WORK/oci/blobs/sha256/$(json_get "$WORK/src.json" 'd["digest"]' | cut -d: -f2)" 'd["config"]["digest"]' | cut -d: -f2)
python3 - "$source_config" "$WORK/config.json" <<'EOF' || fail "the config differs from the source's beyond rootfs"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
a.pop("rootfs"); b.pop("rootfs")
sys.exit(a != b)
EOF

log "the kernel stacks the pushed layers into the OCI result of the source"
lowers=()
for i in "${!digests[@]}"; do
  mount_image erofs "$WORK/layer$i.erofs" "$WORK/mnt/l$i"
  lowers=("$WORK/mnt/l$i" "${lowers[@]}")
done
mount_overlay "$WORK/merged" "$(IFS=:; echo "${lowers[*]}")"
python3 "$TOOLS/tree_manifest.py" dir "$WORK/merged" | grep -v $'^/\t' >"$WORK/got"
python3 "$TOOLS/tree_manifest.py" diff --ignore nlink "$WORK/got" "$WORK/want" ||
  fail "the pushed image differs from the OCI result"

log "the push read each blob once (the process's rchar), though it had to hash every one"
blob_bytes=$(json_get "$WORK/src.json" 'sum(l["size"] for l in d["canonical_layers"])')
read -r rchar _ <"$WORK/p1.io"
((rchar >= blob_bytes && rchar < blob_bytes + blob_bytes / 2)) ||
  fail "the push read $rchar bytes for $blob_bytes bytes of blobs"
log "(read $rchar bytes for $blob_bytes bytes of blobs)"

log "a second push uploads nothing and gives the same manifest"
vmi --json push "$R/src/main:v1" "$R/converted/main:v1" >"$WORK/p2.json" || fail "second push"
[[ $(json_get "$WORK/p2.json" 'any(l["uploaded"] for l in d["layers"]) or d["config"]["uploaded"]') == False ]] ||
  fail "the second push uploaded: $(cat "$WORK/p2.json")"
[[ $(json_get "$WORK/p2.json" 'd["digest"]') == $(json_get "$WORK/p1.json" 'd["digest"]') ]] ||
  fail "the second push gave another manifest"

log "progress on stderr, a line per layer; stdout is the pushed reference"
vmi push "$R/src/main:v1" "$R/progress/main:v1" >"$WORK/p-out" 2>"$WORK/p-err" || fail "push: $(cat "$WORK/p-err")"
[[ $(cat "$WORK/p-out") == "$R/progress/main:v1@$(json_get "$WORK/p1.json" 'd["digest"]')" ]] ||
  fail "stdout: $(cat "$WORK/p-out")"
[[ $(grep -c '^layer [0-9]* [0-9a-f]*: mounted from another repository$' "$WORK/p-err") == "$n" ]] ||
  fail "progress lines: $(cat "$WORK/p-err")"
grep -q "^manifest $(json_get "$WORK/p1.json" 'd["digest"]') stored$" "$WORK/p-err" || fail "no manifest line: $(cat "$WORK/p-err")"
vmi -q push "$R/src/main:v1" "$R/progress/main:v1" >/dev/null 2>"$WORK/p-err"
[[ ! -s $WORK/p-err ]] || fail "-q printed progress: $(cat "$WORK/p-err")"

log "push --layout squashed: the one squashed lower, no history"
B=$WORK/host-b
"$VMIMAGE" -q --cache-dir "$B" pull --layout squashed "$R/src/main:v1" >/dev/null
"$VMIMAGE" --cache-dir "$B" --json push --layout squashed "$R/src/main:v1" "$R/converted/main:squashed" \
  >"$WORK/p3.json" || fail "squashed push"
get /v2/converted/main/manifests/squashed "$WORK/m3.json" "$OCI_MANIFEST"
[[ $(json_get "$WORK/m3.json" 'len(d["layers"])') == 1 ]] || fail "squashed: not one layer"
[[ $(json_get "$WORK/m3.json" 'd["annotations"]["io.vmimage.layout"]') == squashed ]] || fail "squashed annotation"
get "/v2/converted/main/blobs/$(json_get "$WORK/m3.json" 'd["layers"][0]["digest"]')" "$WORK/squashed.erofs"
get "/v2/converted/main/blobs/$(json_get "$WORK/m3.json" 'd["config"]["digest"]')" "$WORK/c3.json"
[[ $(json_get "$WORK/c3.json" '"history" in d') == False ]] || fail "squashed: history kept"
mount_image erofs "$WORK/squashed.erofs" "$WORK/mnt/sq"
python3 "$TOOLS/tree_manifest.py" dir "$WORK/mnt/sq" | grep -v $'^/\t' >"$WORK/got-sq"
python3 "$TOOLS/tree_manifest.py" diff "$WORK/got-sq" "$WORK/want" || fail "the squashed push differs"

log "errors: a layered-only image pushed squashed, a digest as DEST, an unknown image"
expect_fail vmi push --layout squashed "$R/src/main:v1" "$R/converted/main:x"
grep -q 'has no squashed lower' "$WORK/err" || fail "squashed of a layered image: $(cat "$WORK/err")"
expect_fail vmi push "$R/src/main:v1" "$R/converted/main@$source_digest"
grep -q 'DEST takes a tag' "$WORK/err" || fail "digest DEST: $(cat "$WORK/err")"
expect_fail vmi push no/such:image "$R/converted/none:v1"
grep -q 'image not found' "$WORK/err" || fail "unknown image: $(cat "$WORK/err")"

log "an upload location on another origin is refused (the blob goes nowhere else)"
start_python_server proxy fault_proxy.py --upstream "$R" --log "$WORK/proxy.log" --lifetime 120 \
  --rules '[{"method": "POST", "path": "/blobs/uploads/", "action": "status", "status": 202,
             "headers": {"Location": "http://127.0.0.2:9/v2/elsewhere/blobs/uploads/x"}}]'
expect_fail vmi push "$R/src/main:v1" "127.0.0.1:$SERVER_PORT/other/main:v1"
grep -q 'refusing the upload location http://127.0.0.2:9/.* on another origin' "$WORK/err" ||
  fail "a foreign upload location: $(cat "$WORK/err")"

log "a registry with TLS and Basic auth: credentials from \$DOCKER_CONFIG, none in messages"
user=pusher
password='pu5h-Secret'
auth_b64=$(printf '%s:%s' "$user" "$password" | base64 -w0)
make_ca "$WORK/ca"
htpasswd -Bbn "$user" "$password" >"$WORK/htpasswd"
start_registry "$WORK/reg-auth" --tls "$WORK/ca/server.pem" "$WORK/ca/server.key" --htpasswd "$WORK/htpasswd"
S=127.0.0.1:$REGISTRY_PORT
export HOME=$WORK/home DOCKER_CONFIG=$WORK/docker
unset REGISTRY_AUTH_FILE XDG_RUNTIME_DIR SSL_CERT_FILE
mkdir -p "$HOME" "$DOCKER_CONFIG"
expect_fail vmi --ca-file "$WORK/ca/ca.pem" push "$R/src/main:v1" "$S/private/main:v1"
grep -q 'requires authentication' "$WORK/err" || fail "push without credentials: $(cat "$WORK/err")"
printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$S" "$auth_b64" >"$DOCKER_CONFIG/config.json"
vmi --ca-file "$WORK/ca/ca.pem" --json push "$R/src/main:v1" "$S/private/main:v1" >"$WORK/p4.json" 2>"$WORK/err4" ||
  fail "push with credentials: $(cat "$WORK/err4")"
[[ $(json_get "$WORK/p4.json" 'd["digest"]') == $(json_get "$WORK/p1.json" 'd["digest"]') ]] ||
  fail "the same image pushed elsewhere gave another manifest"
! grep -qF -e "$password" -e "$auth_b64" "$WORK/err" "$WORK/err4" "$WORK/p4.json" || fail "a secret leaked"
