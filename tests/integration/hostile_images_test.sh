#!/usr/bin/env bash
# Hostile image archives (docs/security.md): counts an attacker chooses are
# bounded with errors that name the limit, and messages stay short: 20,000
# image names, 10,000 layers, indexes that name the next thousands of times,
# thousands of layer blobs, JSON nested hundreds deep, indexes fanning out, an image whose layers
# together pass max-image-entries or max-image-bytes.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
cache="$WORK/cache"

# expect_error WORDS CMD...: exits 1 (no hang: a 120 s guard) with WORDS, in a
# short message; $CODE changes the exit code wanted.
expect_error() {
  local words=$1 rc=0
  shift
  timeout 120 "$@" >/dev/null 2>"$WORK/err" || rc=$?
  [[ $rc != 124 ]] || fail "$*: still running after 120 s"
  [[ $rc == "${CODE:-1}" ]] || fail "$*: exit $rc, want ${CODE:-1}: $(head -c 1000 "$WORK/err")"
  grep -qF -- "$words" "$WORK/err" || fail "$*: message lacks \"$words\": $(head -c 1000 "$WORK/err")"
  [[ $(wc -c <"$WORK/err") -lt 2000 ]] || fail "$*: a message of $(wc -c <"$WORK/err") bytes"
}

python3 - "$WORK" <<'PY'
import gzip, hashlib, io, json, sys, tarfile
work = sys.argv[1]

def tar_bytes(members, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()

def sha(data):
    return hashlib.sha256(data).hexdigest()

def write(name, data):
    with open("%s/%s" % (work, name), "wb") as f:
        f.write(data)

layer = tar_bytes([("etc/motd", b"hi\n")])
def config(n_layers):
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                       "rootfs": {"type": "layers",
                                  "diff_ids": ["sha256:" + sha(layer)] * n_layers}}).encode()

def docker_archive(name, repo_tags, n_layers, extra=()):
    c = config(n_layers)
    manifest = [{"Config": sha(c) + ".json", "RepoTags": repo_tags,
                 "Layers": ["l/layer.tar"] * n_layers}]
    write(name, tar_bytes([(sha(c) + ".json", c), ("l/layer.tar", layer)] + list(extra) +
                          [("manifest.json", json.dumps(manifest).encode())]))

docker_archive("names.tar", ["name%05d:v1" % i for i in range(20000)], 1)
docker_archive("layers.tar", ["many:v1"], 10000)

# Docker 25+ shape: manifest.json plus an index.json whose 2,000 entries all
# name one nested index, whose 2,000 entries name the next, four levels down:
# 2,000^4 paths through five documents.
docs = []
inner = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
for level in range(4):
    docs.append(inner)
    desc = {"mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": "sha256:" + sha(inner), "size": len(inner)}
    inner = json.dumps({"schemaVersion": 2, "manifests": [desc] * 2000}).encode()
index = inner
docker_archive("loop.tar", ["loop:v1"], 1,
               [("index.json", index)] + [("blobs/sha256/" + sha(d), d) for d in docs])

# 1,100 layer-like members: gzip blobs nobody will use.
blobs = [("junk/%04d.tar.gz" % i, gzip.compress(tar_bytes([("f%d" % i, b"x")]), mtime=0))
         for i in range(1100)]
docker_archive("blobs.tar", ["blobs:v1"], 1, blobs)

# manifest.json nested 200 levels deep.
write("deep.tar", tar_bytes([("manifest.json", b"[" * 200 + b"]" * 200)]))
PY

log "20,000 image names: a short message; without a tag, each name is recorded (docker load)"
expect_error "and 19997 more" "$VMIMAGE" --cache-dir "$cache" import --ref nomatch:v1 \
  "$WORK/names.tar"
"$VMIMAGE" --cache-dir "$WORK/names-cache" -q import "$WORK/names.tar" >/dev/null ||
  fail "import of the archive with 20,000 names"
[[ $("$VMIMAGE" --cache-dir "$WORK/names-cache" ls -q | wc -l) == 20000 ]] ||
  fail "not every name was recorded"

log "10,000 layers: refused by max-layers"
expect_error "10000 layers, more than 500 (limit max-layers)" \
  "$VMIMAGE" --cache-dir "$cache" import many:v1 "$WORK/layers.tar"

log "indexes naming the next 2,000 times, four levels: each document is read once"
timeout 120 "$VMIMAGE" --cache-dir "$cache" -q import loop:v1 "$WORK/loop.tar" >/dev/null ||
  fail "import of the archive with a self-naming index (exit $?)"

log "1,100 layer blobs in one archive: refused by max-archive-blobs"
expect_error "more than 1000 layer blobs" \
  "$VMIMAGE" --cache-dir "$cache" import blobs:v1 "$WORK/blobs.tar"
[[ -z $(ls -A "$cache/tmp") ]] || fail "the refused import left $(ls -A "$cache/tmp" | wc -l) files"

log "an archive followed by an endless stream ends on max-trailing-bytes"
rc=0
(cat "$WORK/layers.tar"; cat /dev/zero) |
  timeout 60 "$VMIMAGE" --cache-dir "$cache" import many:v1 2>"$WORK/err" || rc=$?
[[ $rc == 1 ]] || fail "endless archive: exit $rc: $(cat "$WORK/err")"
grep -q "follow the end of the tar (limit max-trailing-bytes)" "$WORK/err" ||
  fail "endless archive: $(cat "$WORK/err")"

log "JSON nested 200 deep"
expect_error "nested deeper than 64 levels" "$VMIMAGE" --cache-dir "$cache" import deep:v1 \
  "$WORK/deep.tar"

log "an image's entries and bytes, all layers together"
python3 "$TOOLS/make_layers.py" all "$WORK/ml" >/dev/null
st="$WORK/ml/stacks/main"
python3 "$TOOLS/pack_image.py" "$WORK/stack" main "$st/1.tar" "$st/2.tar" "$st/3.tar" >/dev/null
entries=$(for t in 1 2 3; do tar tf "$st/$t.tar"; done | wc -l)
expect_error "(limit max-image-entries)" "$VMIMAGE" --cache-dir "$cache" \
  --limit max-image-entries=$((entries - 1)) import st:v1 "$WORK/stack"
"$VMIMAGE" --cache-dir "$cache" -q --limit max-image-entries="$entries" import st:v1 "$WORK/stack" \
  >/dev/null || fail "exactly max-image-entries entries should pass"
bytes=$(($(stat -c %s "$st/1.tar") + $(stat -c %s "$st/2.tar") + $(stat -c %s "$st/3.tar")))
expect_error "(limit max-image-bytes)" "$VMIMAGE" --cache-dir "$cache" \
  --limit max-image-bytes=$((bytes - 1)) import st2:v1 "$WORK/stack"
"$VMIMAGE" --cache-dir "$cache" verify >/dev/null || fail "verify"
echo PASS
