#!/usr/bin/env bash
# Pulls of EROFS-native images from a real docker-registry, with two stores as
# two hosts: host A pulls a tar image, converts it and pushes it; host B pulls
# the converted image with no conversion (no layer is "completing filesystem";
# each is checked by our reader), gets A's blobs byte for byte and, through
# the kernel's mounts, the OCI result of the source, in every layout and as
# ext4. Images in containerd's per-layer form (`ctr image convert --erofs`:
# each layer converted alone; raw, +zstd, and the spec's application/vnd.erofs
# names) stack exactly as the kernel stacks them. Tampered or invalid blobs are
# rejected and nothing is recorded.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root
source "$TOOLS/registry/registry.sh"

python3 "$TOOLS/make_layers.py" all "$WORK/layers"
# tars STACK: the stack's layer tars, base first.
tars() {
  local dir="$WORK/layers/stacks/$1" i
  for i in $(seq 1 "$(ls "$dir"/*.tar | wc -l)"); do echo "$dir/$i.tar"; done
}
mapfile -t main_tars < <(tars main)
python3 "$TOOLS/pack_image.py" "$WORK/oci" main "${main_tars[@]}" --compress gzip --user 1000:1000 \
  --workdir /app --cmd '["echo hi"]' --env A=1 >/dev/null
python3 "$TOOLS/tree_manifest.py" tar --mode merged "${main_tars[@]}" | grep -v $'^/\t' >"$WORK/want"
start_registry "$WORK/reg"
R=127.0.0.1:$REGISTRY_PORT
push_layout "$WORK/oci" main "$R/src/main:v1"

A=$WORK/host-a
B=$WORK/host-b
"$VMIMAGE" -q --cache-dir "$A" pull --layout layered "$R/src/main:v1" >/dev/null
"$VMIMAGE" --cache-dir "$A" --json inspect "$R/src/main:v1" >"$WORK/a.json"
"$VMIMAGE" -q --cache-dir "$A" push "$R/src/main:v1" "$R/converted/main:v1" >/dev/null
n=$(json_get "$WORK/a.json" 'len(d["canonical_layers"])')


log "host B pulls the converted image: no conversion, every layer checked, A's blobs byte for byte"
"$VMIMAGE" --cache-dir "$B" pull --layout layered "$R/converted/main:v1" >/dev/null 2>"$WORK/events" ||
  fail "converted pull: $(cat "$WORK/events")"
! grep -q 'completing filesystem' "$WORK/events" || fail "a layer was converted: $(cat "$WORK/events")"
[[ $(grep -c 'downloaded EROFS image, checking it' "$WORK/events") == "$n" ]] ||
  fail "not every layer was checked: $(cat "$WORK/events")"
"$VMIMAGE" --cache-dir "$B" --json inspect "$R/converted/main:v1" >"$WORK/b.json"
mapfile -t a_blobs < <(json_get "$WORK/a.json" '[l["path"] for l in d["canonical_layers"]]')
mapfile -t b_blobs < <(json_get "$WORK/b.json" '[l["path"] for l in d["canonical_layers"]]')
[[ ${#b_blobs[@]} == "$n" ]] || fail "B has ${#b_blobs[@]} layers, A $n"
for i in "${!a_blobs[@]}"; do
  cmp -s "${a_blobs[i]}" "${b_blobs[i]}" || fail "layer $i: B's blob differs from A's"
done
[[ $(json_get "$WORK/b.json" 'd["oci"]["user"] + d["oci"]["working_dir"]') == 1000:1000/app ]] ||
  fail "the config's runtime settings were lost: $(cat "$WORK/b.json")"
tree_of "$WORK/b.json" b-layered
python3 "$TOOLS/tree_manifest.py" diff --ignore nlink "$WORK/b-layered" "$WORK/want" ||
  fail "B's layered lowers differ from the OCI result"

log "inspect tells where each lower came from"
[[ $(json_get "$WORK/a.json" '",".join(sorted(set(l["origin"] for l in d["canonical_layers"])))') == converted ]] ||
  fail "A's lowers: $(cat "$WORK/a.json")"
[[ $(json_get "$WORK/b.json" '",".join(sorted(set(l["origin"] for l in d["canonical_layers"])))') == pulled ]] ||
  fail "B's lowers: $(cat "$WORK/b.json")"
for i in "${!b_blobs[@]}"; do
  [[ $(json_get "$WORK/b.json" "d['canonical_layers'][$i]['content_digest']") == sha256:$(sha256sum <"${b_blobs[i]}" | cut -d' ' -f1) ]] ||
    fail "layer $i: the recorded content digest is not the blob's sha256"
done

log "push --compress zstd: +zstd layers, DiffIDs of the raw images; B's pull unwraps them to A's blobs"
"$VMIMAGE" --cache-dir "$A" --json push --compress zstd "$R/src/main:v1" "$R/converted/main:zstd" >"$WORK/pz.json" ||
  fail "zstd push"
curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$R/v2/converted/main/manifests/zstd" >"$WORK/mz.json"
[[ $(json_get "$WORK/mz.json" '",".join(sorted(set(l["mediaType"] for l in d["layers"])))') == application/vnd.erofs.layer.v1+zstd ]] ||
  fail "zstd media types: $(cat "$WORK/mz.json")"
[[ $(json_get "$WORK/mz.json" 'd["annotations"]["io.vmimage.compression"]') == zstd ]] || fail "zstd annotation"
curl -fsS "http://$R/v2/converted/main/blobs/$(json_get "$WORK/mz.json" 'd["config"]["digest"]')" >"$WORK/cz.json"
[[ $(json_get "$WORK/cz.json" 'd["rootfs"]["diff_ids"]') == "$(json_get "$WORK/b.json" '[l["content_digest"] for l in d["canonical_layers"]]')" ]] ||
  fail "zstd diff_ids are not the raw images' digests"
"$VMIMAGE" --cache-dir "$A" --json push --compress zstd "$R/src/main:v1" "$R/converted/main:zstd2" >"$WORK/pz2.json"
[[ $(json_get "$WORK/pz2.json" 'd["digest"]') == $(json_get "$WORK/pz.json" 'd["digest"]') ]] ||
  fail "two zstd pushes of the same image gave different manifests"
[[ $(json_get "$WORK/pz2.json" 'any(l["uploaded"] for l in d["layers"])') == False ]] ||
  fail "the second zstd push uploaded layers again"
Z=$WORK/host-z
"$VMIMAGE" --cache-dir "$Z" pull --layout layered "$R/converted/main:zstd" >/dev/null 2>"$WORK/events" ||
  fail "zstd pull: $(cat "$WORK/events")"
! grep -q 'completing filesystem' "$WORK/events" || fail "zstd pull converted a layer"
"$VMIMAGE" --cache-dir "$Z" --json inspect "$R/converted/main:zstd" >"$WORK/z.json"
mapfile -t z_blobs < <(json_get "$WORK/z.json" '[l["path"] for l in d["canonical_layers"]]')
for i in "${!a_blobs[@]}"; do
  cmp -s "${a_blobs[i]}" "${z_blobs[i]}" || fail "layer $i: the zstd pull's blob differs from A's"
done

log "a push into another repository of the registry mounts the blobs instead of uploading them"
"$VMIMAGE" --cache-dir "$A" --json push "$R/src/main:v1" "$R/other/main:v1" >"$WORK/pm.json" || fail "A's push to other/"
[[ $(json_get "$WORK/pm.json" 'all(l["mounted"] and not l["uploaded"] for l in d["layers"])') == True ]] ||
  fail "A's layers were not mounted: $(cat "$WORK/pm.json")"
for digest in $(json_get "$WORK/pm.json" '[l["digest"] for l in d["layers"]]'); do
  curl -fsS -o /dev/null "http://$R/v2/other/main/blobs/$digest" || fail "other/main lacks $digest"
done
# B pulled its layers from converted/main: it mounts from there.
"$VMIMAGE" --cache-dir "$B" --json push "$R/converted/main:v1" "$R/third/main:v1" >"$WORK/pm2.json" || fail "B's push"
[[ $(json_get "$WORK/pm2.json" 'all(l["mounted"] for l in d["layers"])') == True ]] ||
  fail "B's layers were not mounted: $(cat "$WORK/pm2.json")"

log "an interrupted push resumes: the blobs that made it are not uploaded again"
start_python_server flaky referrers_proxy.py --upstream "$R" --fail-uploads-after 2 --lifetime 120
Y=$WORK/host-y
"$VMIMAGE" -q --cache-dir "$Y" pull --layout layered "$R/src/main:v1" >/dev/null
expect_fail "$VMIMAGE" --cache-dir "$Y" --limit max-retries=0 push "$R/src/main:v1" "127.0.0.1:$SERVER_PORT/resume/main:v1"
grep -q '503' "$WORK/err" || fail "the interrupted push: $(cat "$WORK/err")"
# Layers go up in parallel: which made it depends on timing; the registry says,
# once the proxy has passed on what it took (two counts 0.5 s apart agree).
blobs_there() {
  local digest code n=0
  for digest in $(json_get "$WORK/pm.json" '[l["digest"] for l in d["layers"]]'); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -I "http://$R/v2/resume/main/blobs/$digest")
    [[ $code == 200 ]] && n=$((n + 1))
  done
  echo "$n"
}
made_it=$(blobs_there)
for _ in 1 2 3 4 5 6 7 8 9 10; do
  sleep 0.5
  again=$(blobs_there)
  [[ $again == "$made_it" ]] && break
  made_it=$again
done
((made_it >= 1)) || fail "no layer made it before the interruption: the check below would prove nothing"
"$VMIMAGE" --cache-dir "$Y" --json push "$R/src/main:v1" "$R/resume/main:v1" >"$WORK/pr.json" || fail "resumed push"
[[ $(json_get "$WORK/pr.json" 'sum(not l["uploaded"] for l in d["layers"])') == "$made_it" ]] ||
  fail "the resumed push uploaded again what had made it ($made_it layers): $(cat "$WORK/pr.json")"
[[ $(json_get "$WORK/pr.json" 'd["digest"]') == $(json_get "$WORK/pm.json" 'd["digest"]') ]] ||
  fail "the resumed push gave another manifest"

log "the pulled blobs are keyed apart from local conversions (a key of their own)"
for key in $(json_get "$WORK/b.json" '[l["digest"] for l in d["canonical_layers"]]'); do
  grep -qF "$key" "$WORK/a.json" && fail "a pulled blob has the key of a converted one: $key"
done
config_diff_ids=$(curl -fsS "http://$R/v2/converted/main/blobs/$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$R/v2/converted/main/manifests/v1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["digest"])')" |
  python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["rootfs"]["diff_ids"]))')
b_keys=$(json_get "$WORK/b.json" '[l["digest"] for l in d["canonical_layers"]]')
for d in $config_diff_ids; do
  grep -qxF "$d" <<<"$b_keys" && fail "a pulled blob is keyed by its own DiffID $d"
done

log "squashed and ext4 forms are made from the pulled layers, as usual"
"$VMIMAGE" -q --cache-dir "$B" pull --force --layout squashed "$R/converted/main:v1" >/dev/null
"$VMIMAGE" --cache-dir "$B" --json inspect "$R/converted/main:v1" >"$WORK/b-sq.json"
[[ $(json_get "$WORK/b-sq.json" 'len(d["layers"])') == 1 ]] || fail "squashed: not one lower"
tree_of "$WORK/b-sq.json" b-squashed
python3 "$TOOLS/tree_manifest.py" diff "$WORK/b-squashed" "$WORK/want" || fail "B's squash differs"
"$VMIMAGE" -q --cache-dir "$B" pull --force --layout layered --fs ext4 "$R/converted/main:v1" >/dev/null
"$VMIMAGE" --cache-dir "$B" --json inspect "$R/converted/main:v1" >"$WORK/b-ext4.json"
tree_of "$WORK/b-ext4.json" b-ext4
python3 "$TOOLS/tree_manifest.py" diff --ignore nlink "$WORK/b-ext4" "$WORK/want" ||
  fail "B's ext4 lowers differ"
"$VMIMAGE" -q --cache-dir "$B" verify >/dev/null || fail "verify of B's store"

log "containerd's per-layer form: each layer converted alone, raw, +zstd and application/vnd.erofs"
# (what `ctr image convert --erofs` publishes: no layer knows the ones below).
# Context-free layers can differ from the OCI result (a directory a layer only
# implies takes default metadata): the reference is the kernel's overlay of
# those very images, which is what containerd's EROFS snapshotter mounts.
for stack in main root-opaque; do
  mapfile -t stack_tars < <(tars "$stack")
  alone=()
  for i in "${!stack_tars[@]}"; do
    "$VMIMAGE" mkfs "${stack_tars[i]}" "$WORK/$stack-alone-$i.erofs" >/dev/null || fail "mkfs layer $i"
    # Another converter may leave zero blocks at the end: they are stored too.
    ((i == 0)) && truncate -s +8192 "$WORK/$stack-alone-$i.erofs"
    alone+=("$WORK/$stack-alone-$i.erofs")
  done
  lowers=()
  for i in "${!alone[@]}"; do
    mount_image erofs "${alone[i]}" "$WORK/mnt/$stack-alone-$i"
    lowers=("$WORK/mnt/$stack-alone-$i" "${lowers[@]}")
  done
  mount_overlay "$WORK/mnt/$stack-kernel" "$(IFS=:; echo "${lowers[*]}")"
  # overlayfs reads a directory only one layer has without merging it: a
  # whiteout of nothing there stays in its listing (this 6.18 kernel then
  # fails its stat with ENOENT; older ones show a 0:0 char device). The squash
  # (OCI semantics) drops it.
  python3 "$TOOLS/tree_manifest.py" dir "$WORK/mnt/$stack-kernel" | grep -v $'^/\t' |
    grep -v -P '\ttype=(c\t.*\trdev=0:0(\t|$)|broken\(ENOENT\))' >"$WORK/$stack-kernel"
  for form in "application/vnd.erofs.layer.v1 none" "application/vnd.erofs.layer.v1 zstd" \
    "application/vnd.erofs zstd"; do
    read -r media compress <<<"$form"
    tag=$stack-$compress-${media##*/}
    python3 "$TOOLS/pack_image.py" "$WORK/oci" "$tag" "${alone[@]}" --compress "$compress" \
      --erofs-media "$media" >/dev/null
    push_layout "$WORK/oci" "$tag" "$R/ctr/$stack:$tag"
    C=$WORK/host-c-$tag
    "$VMIMAGE" --cache-dir "$C" pull --layout layered "$R/ctr/$stack:$tag" >/dev/null 2>"$WORK/events" ||
      fail "$tag: $(cat "$WORK/events")"
    ! grep -q 'completing filesystem' "$WORK/events" || fail "$tag: a layer was converted"
    "$VMIMAGE" --cache-dir "$C" --json inspect "$R/ctr/$stack:$tag" >"$WORK/c.json"
    mapfile -t c_blobs < <(json_get "$WORK/c.json" '[l["path"] for l in d["canonical_layers"]]')
    for i in "${!alone[@]}"; do
      cmp -s "${alone[i]}" "${c_blobs[i]}" || fail "$tag: layer $i was not stored as published"
    done
    "$VMIMAGE" -q --cache-dir "$C" pull --force --layout squashed "$R/ctr/$stack:$tag" >/dev/null
    "$VMIMAGE" --cache-dir "$C" --json inspect "$R/ctr/$stack:$tag" >"$WORK/c-sq.json"
    tree_of "$WORK/c-sq.json" "$tag-squashed"
    python3 "$TOOLS/tree_manifest.py" diff --ignore nlink "$WORK/$tag-squashed" "$WORK/$stack-kernel" ||
      fail "$tag: the squash differs from the kernel's stack of the same layers"
  done
done
log "a tampered blob in the registry is rejected; nothing is recorded"
digest=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$R/v2/converted/main/manifests/v1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][-1]["digest"])')
hex=${digest#sha256:}
data=$WORK/reg/storage/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data
[[ -f $data ]] || fail "no registry file for $digest"
cp "$data" "$WORK/saved-blob"
python3 - "$data" <<'EOF'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(1024 + 200)
    b = f.read(1)
    f.seek(1024 + 200)
    f.write(bytes([b[0] ^ 0x40]))
EOF
D=$WORK/host-d
expect_fail "$VMIMAGE" --cache-dir "$D" pull --layout layered "$R/converted/main:v1"
grep -q 'digest mismatch' "$WORK/err" || fail "a tampered blob: $(cat "$WORK/err")"
[[ -z $("$VMIMAGE" --cache-dir "$D" ls -q 2>/dev/null) ]] || fail "a tampered pull recorded an image"
[[ -z $(find "$D/blobs" -type f 2>/dev/null) ]] || fail "a tampered pull left blobs: $(find "$D/blobs" -type f)"
cp "$WORK/saved-blob" "$data"

log "blobs whose digests hold but that are not EROFS images are rejected by our reader"
head -c 65536 /dev/urandom >"$WORK/garbage.erofs"
cp "${alone[0]}" "$WORK/truncated.erofs"
truncate -s 4096 "$WORK/truncated.erofs"
for bad in garbage truncated; do
  python3 "$TOOLS/pack_image.py" "$WORK/oci" "$bad" "$WORK/$bad.erofs" --compress none \
    --erofs-media application/vnd.erofs.layer.v1 >/dev/null
  push_layout "$WORK/oci" "$bad" "$R/bad/$bad:v1"
  expect_fail "$VMIMAGE" --cache-dir "$D" pull "$R/bad/$bad:v1"
  grep -q 'layer 0' "$WORK/err" || fail "$bad: the message names no layer: $(cat "$WORK/err")"
  [[ -z $(find "$D/blobs" -type f 2>/dev/null) ]] || fail "$bad: blobs left behind"
done
[[ -z $("$VMIMAGE" --cache-dir "$D" ls -q 2>/dev/null) ]] || fail "an invalid image was recorded"

log "an image mixing tar and EROFS layers is refused with a clear error"
python3 - "$WORK/oci" <<'EOF'
import json, os, sys, hashlib
layout = sys.argv[1]
def blob(d):
    with open(os.path.join(layout, "blobs", "sha256", d.split(":")[1]), "rb") as f:
        return f.read()
index = json.load(open(os.path.join(layout, "index.json")))
by_tag = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in index["manifests"]}
tar_manifest = json.loads(blob(by_tag["main"]["digest"]))
tar_manifest["layers"][1]["mediaType"] = "application/vnd.erofs.layer.v1"
data = json.dumps(tar_manifest).encode()
digest = hashlib.sha256(data).hexdigest()
open(os.path.join(layout, "blobs", "sha256", digest), "wb").write(data)
index["manifests"].append({"mediaType": tar_manifest["mediaType"], "digest": "sha256:" + digest,
                           "size": len(data), "annotations": {"org.opencontainers.image.ref.name": "mixed"}})
json.dump(index, open(os.path.join(layout, "index.json"), "w"))
EOF
push_layout "$WORK/oci" mixed "$R/bad/mixed:v1"
expect_fail "$VMIMAGE" --cache-dir "$D" pull "$R/bad/mixed:v1"
grep -q 'mixes tar layers and EROFS layers' "$WORK/err" || fail "mixed: $(cat "$WORK/err")"
