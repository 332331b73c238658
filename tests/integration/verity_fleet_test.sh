#!/usr/bin/env bash
# dm-verity trees across hosts, against a real docker-registry: host A imports
# with --verity and pushes; each layer descriptor carries its root hash, salt,
# data size and hash offset. Host B pulls the converted image with no
# conversion and no new tree: A's blobs byte for byte, the same root hashes,
# accepted by veritysetup. Host C pulls a converted image without trees with
# --verity and adds them. A manifest whose root-hash annotation was changed is
# refused and nothing is recorded; --converted-repo with --verity does not take
# an image without trees.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root
source "$TOOLS/registry/registry.sh"
command -v veritysetup >/dev/null || fail "veritysetup missing (scripts/install-deps installs cryptsetup-bin)"

python3 "$TOOLS/make_layers.py" all "$WORK/layers"
dir="$WORK/layers/stacks/main"
tars=()
for i in $(seq 1 "$(ls "$dir"/*.tar | wc -l)"); do tars+=("$dir/$i.tar"); done
python3 "$TOOLS/pack_image.py" "$WORK/oci" main "${tars[@]}" >/dev/null
start_registry "$WORK/reg"
R=127.0.0.1:$REGISTRY_PORT
push_layout "$WORK/oci" main "$R/src/main:v1"
A=$WORK/host-a
B=$WORK/host-b
C=$WORK/host-c

"$VMIMAGE" -q --cache-dir "$A" pull --verity --layout layered "$R/src/main:v1" || fail "A: pull --verity"
"$VMIMAGE" --cache-dir "$A" --json inspect "$R/src/main:v1" >"$WORK/a.json"
"$VMIMAGE" -q --cache-dir "$A" push "$R/src/main:v1" "$R/conv/main:verity" >/dev/null || fail "A: push"
"$VMIMAGE" -q --cache-dir "$WORK/host-a2" pull --layout layered "$R/src/main:v1" ||
  fail "A2: pull without trees"
"$VMIMAGE" -q --cache-dir "$WORK/host-a2" push "$R/src/main:v1" "$R/conv/main:plain" >/dev/null ||
  fail "A2: push plain"

curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  "http://$R/v2/conv/main/manifests/verity" >"$WORK/manifest.json" || fail "fetching the manifest"
python3 - "$WORK/manifest.json" "$WORK/a.json" <<'EOF' || fail "the pushed manifest's verity annotations"
import json, sys
m = json.load(open(sys.argv[1]))
a = json.load(open(sys.argv[2]))
assert m["annotations"]["io.vmimage.verity"] == "true", m["annotations"]
for layer, lower in zip(m["layers"], a["canonical_layers"]):
    ann, v = layer["annotations"], lower["verity"]
    assert ann["io.vmimage.verity.root-hash"] == v["root_hash"], (ann, v)
    assert ann["io.vmimage.verity.salt"] == v["salt"]
    assert ann["io.vmimage.verity.data-size"] == str(v["data_size"])
    assert ann["io.vmimage.verity.hash-offset"] == str(v["hash_offset"])
    assert layer["size"] == lower["size"], (layer["size"], lower["size"])
EOF

# Host B: A's blobs and root hashes, no conversion, each tree checked.
"$VMIMAGE" --cache-dir "$B" pull --layout layered "$R/conv/main:verity" >/dev/null 2>"$WORK/b.events" ||
  fail "B: pull of the converted image: $(cat "$WORK/b.events")"
grep -q 'completing' "$WORK/b.events" && fail "B converted: $(cat "$WORK/b.events")"
grep -q 'checking' "$WORK/b.events" || fail "B checked no layer: $(cat "$WORK/b.events")"
"$VMIMAGE" --cache-dir "$B" --json inspect "$R/conv/main:verity" >"$WORK/b.json"
python3 - "$WORK/a.json" "$WORK/b.json" <<'EOF' || fail "B's lowers against A's"
import filecmp, json, sys
a = json.load(open(sys.argv[1]))
b = json.load(open(sys.argv[2]))
assert len(a["canonical_layers"]) == len(b["canonical_layers"])
for x, y in zip(a["canonical_layers"], b["canonical_layers"]):
    assert y["verity"]["root_hash"] == x["verity"]["root_hash"], (x, y)
    assert y["origin"] == "pulled", y
    assert filecmp.cmp(x["path"], y["path"], shallow=False), (x["path"], y["path"])
EOF
while read -r path root offset; do
  veritysetup verify "$path" "$path" "$root" --hash-offset="$offset" >/dev/null ||
    fail "veritysetup verify of B's $path"
done < <(json_get "$WORK/b.json" '[l["path"] + " " + l["verity"]["root_hash"] + " " + str(l["verity"]["hash_offset"]) for l in d["layers"]]')
"$VMIMAGE" --cache-dir "$B" verify >/dev/null || fail "B: verify"

# Host C: a converted image without trees, pulled with --verity, gets them.
"$VMIMAGE" -q --cache-dir "$C" pull --verity --layout layered "$R/conv/main:plain" || fail "C: pull --verity"
"$VMIMAGE" --cache-dir "$C" --json inspect "$R/conv/main:plain" >"$WORK/c.json"
while read -r path root offset; do
  [[ $root != None ]] || fail "C: a lower without a tree"
  veritysetup verify "$path" "$path" "$root" --hash-offset="$offset" >/dev/null ||
    fail "veritysetup verify of C's $path"
done < <(json_get "$WORK/c.json" '[l["path"] + " " + str((l.get("verity") or {}).get("root_hash")) + " " + str((l.get("verity") or {}).get("hash_offset")) for l in d["layers"]]')

# A root hash that does not match the tree in the blob: refused, nothing kept.
python3 - "$WORK/manifest.json" "$WORK/bad.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
h = m["layers"][0]["annotations"]["io.vmimage.verity.root-hash"]
m["layers"][0]["annotations"]["io.vmimage.verity.root-hash"] = ("0" if h[0] != "0" else "1") + h[1:]
open(sys.argv[2], "w").write(json.dumps(m))
EOF
curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
  --data-binary @"$WORK/bad.json" "http://$R/v2/conv/main/manifests/badroot" >/dev/null ||
  fail "pushing the changed manifest"
D=$WORK/host-d
expect_fail "$VMIMAGE" --cache-dir "$D" pull --layout layered "$R/conv/main:badroot"
grep -q 'dm-verity' "$WORK/err" || fail "a wrong root hash: $(cat "$WORK/err")"
"$VMIMAGE" --cache-dir "$D" ls >"$WORK/d.ls" 2>/dev/null || true
grep -q badroot "$WORK/d.ls" && fail "the refused image was recorded"
[[ -z $(find "$D/blobs" -type f 2>/dev/null) ]] || fail "a refused pull left blobs: $(ls "$D/blobs")"

# --converted-repo with --verity skips a published image without trees.
"$VMIMAGE" -q --cache-dir "$WORK/pub" pull --layout layered --converted-repo "$R/fleet" --publish \
  "$R/src/main:v1" || fail "publishing without trees"
"$VMIMAGE" --cache-dir "$WORK/e" pull --verity --layout layered --converted-repo "$R/fleet" \
  "$R/src/main:v1" >/dev/null 2>"$WORK/e.events" || fail "E: pull --verity --converted-repo"
grep -q 'found a converted image' "$WORK/e.events" &&
  fail "E took the image without trees: $(cat "$WORK/e.events")"
# Without --verity the published image serves (the control for the check above).
"$VMIMAGE" --cache-dir "$WORK/f" pull --layout layered --converted-repo "$R/fleet" \
  "$R/src/main:v1" >/dev/null 2>"$WORK/f.events" || fail "F: pull --converted-repo"
grep -q 'found a converted image' "$WORK/f.events" ||
  fail "F did not find the published image: $(cat "$WORK/f.events")"
"$VMIMAGE" --cache-dir "$WORK/e" --json inspect "$R/src/main:v1" >"$WORK/e.json"
[[ $(json_get "$WORK/e.json" 'all("verity" in l for l in d["layers"])') == True ]] ||
  fail "E's lowers lack trees"
log ok
