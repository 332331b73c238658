#!/usr/bin/env bash
# vmimage import of archives written by real tools (skopeo docker-archive and
# oci-archive, an OCI directory, a Docker 25+ archive, compressed archives), from
# a file and from stdin: the mounted lowers equal the OCI result of the image's
# layers; importing again stores no new blob; bad archives store nothing.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root
source "$VMIMAGE_SOURCE_DIR/tests/integration/image_check.sh"
cache="$WORK/cache"
vmi() { "$VMIMAGE" --cache-dir "$cache" "$@"; }

bash "$TOOLS/archive/make_archives.sh" "$WORK/a" || fail "make_archives.sh"
a="$WORK/a"
# The reference: the layer blobs of the skopeo OCI directory, applied in order.
mapfile -t blobs < <(python3 - "$a/oci-dir" <<'PY'
import json, sys
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
m = json.load(open(d + "/blobs/sha256/" + idx["manifests"][0]["digest"].split(":")[1]))
for l in m["layers"]:
    print(d + "/blobs/sha256/" + l["digest"].split(":")[1])
PY
)
[[ ${#blobs[@]} == 3 ]] || fail "expected 3 layers, got ${#blobs[@]}"
python3 "$TOOLS/tree_manifest.py" tar --mode merged "${blobs[@]}" >"$WORK/want"

i=0
for input in docker-archive.tar docker-archive.tar.gz docker25.tar oci-archive-gzip.tar \
  oci-archive-gzip.tar.zst oci-archive-zstd.tar oci-archive-plain.tar oci-dir; do
  tag="imported-$i:v1"
  log "import $input"
  vmi -q import "$tag" "$a/$input" || fail "import $input failed"
  check_image "$tag" "imp-$i" "$WORK/want"
  [[ $(json_get "$WORK/imp-$i.json" 'd["source"]') == import ]] || fail "source"
  [[ $(json_get "$WORK/imp-$i.json" 'd["scope"]') == local ]] || fail "scope"
  i=$((i + 1))
done

# From stdin, and with the tag the archive gives; the same image again adds no blob.
before=$(find "$cache/blobs" -type f | wc -l)
vmi -q import piped:v1 <"$a/docker-archive.tar" || fail "import from stdin"
check_image piped:v1 piped "$WORK/want"
vmi -q import "$a/docker25.tar" || fail "import without a tag"
vmi inspect example.com/test/app:v1 >/dev/null || fail "the archive's name was not used"
after=$(find "$cache/blobs" -type f | wc -l)
[[ $before == "$after" ]] || fail "re-importing stored new blobs ($before -> $after)"

# A short reference finds the image stored under its normalized name.
vmi -q import docker.io/library/normal:latest "$a/oci-dir" || fail "import normal"
vmi inspect normal >/dev/null || fail "inspect by the short name"
vmi tag normal short:v1 || fail "tag by the short name"
vmi rm normal >/dev/null || fail "rm by the short name"
if vmi inspect docker.io/library/normal:latest >/dev/null 2>&1; then fail "rm left it"; fi

# Layered: one lower per layer, same tree.
vmi -q import --layout layered layered:v1 "$a/oci-archive-gzip.tar" || fail "layered import"
check_image layered:v1 layered "$WORK/want"
[[ $LOWER_COUNT == 3 ]] || fail "layered import gave $LOWER_COUNT lowers"

# ext4 lowers: the same tree through ext4 images (e2fsck-clean).
vmi -q import --fs ext4 --layout layered ext4:v1 "$a/oci-dir" || fail "import --fs ext4"
check_image ext4:v1 ext4 "$WORK/want"
[[ $(json_get "$WORK/ext4.json" 'd["lower_fs_types"]') == $'ext4\next4\next4' ]] ||
  fail "lower_fs_types: $(json_get "$WORK/ext4.json" 'd["lower_fs_types"]')"
expect_fail vmi import --fs xfs xfs:v1 "$a/oci-dir"
grep -q 'vmimage: layer fs' "$WORK/err" || fail "--fs xfs: $(cat "$WORK/err")"

# Several images: --ref picks one; none → an error listing them.
expect_fail vmi import multi:v1 "$a/docker-multi.tar"
grep -q 'example.com/test/base:v1' "$WORK/err" || fail "multi: $(cat "$WORK/err")"
vmi -q import --ref example.com/test/base:v1 base:v1 "$a/docker-multi.tar" || fail "--ref"

# Bad archives: a tarball error, no tag, verify clean.
for bad in "$a"/bad-*.tar; do
  name=$(basename "$bad" .tar)
  expect_fail vmi import "$name:v1" "$bad"
  grep -qE 'vmimage: (tarball|image digest|extract)' "$WORK/err" || fail "$name: $(cat "$WORK/err")"
  if vmi inspect "$name:v1" >/dev/null 2>&1; then fail "$name was stored"; fi
done
vmi verify >/dev/null || fail "verify after bad imports"
vmi gc >/dev/null
log "ok"
