#!/usr/bin/env bash
# `inspect` prints exactly the documented keys with absolute paths; `ls` lists
# both scopes as a table or a JSON array and filters by scope.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
: "${VMIMAGE_TEST_TOOLS:?VMIMAGE_TEST_TOOLS must point at the test helper programs}"
fixture="$VMIMAGE_TEST_TOOLS/store_fixture"
store="$WORK/store"
vm() { "$VMIMAGE" --cache-dir "$store" "$@"; }

"$fixture" "$store" save registry docker.io/library/alpine:latest base:10000,app:2000 squash:11000
"$fixture" "$store" save local mine base:10000,mine:500

log "inspect: exact keys, absolute existing paths, values"
vm inspect docker.io/library/alpine:latest >"$WORK/inspect.json"
python3 - "$WORK/inspect.json" "$store" "$("$fixture" "$store" digest squash)" "$("$fixture" "$store" digest base)" <<'PY'
import json, os, re, sys
doc = json.load(open(sys.argv[1]))
store, squash, base = os.path.realpath(sys.argv[2]), sys.argv[3], sys.argv[4]
want = ["tag", "scope", "digest", "size", "created_at", "source", "cached", "rootfs_path",
        "lower_paths", "lower_fs_types", "layers", "canonical_layers", "layer_digests", "oci"]
assert list(doc) == want, f"keys {list(doc)}"
assert list(doc["oci"]) == ["user", "working_dir", "entrypoint", "cmd", "env"], doc["oci"]
for layer in doc["layers"] + doc["canonical_layers"]:
    assert list(layer) in (["digest", "fs_type", "size", "path", "origin"],
                           ["digest", "fs_type", "size", "path", "origin", "content_digest"]), layer
    assert layer["origin"] == "converted", layer
    assert os.path.isabs(layer["path"]) and os.path.getsize(layer["path"]) == layer["size"], layer
assert doc["tag"] == "docker.io/library/alpine:latest" and doc["scope"] == "registry"
assert doc["source"] == "registry" and doc["cached"] is True
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["created_at"]), doc["created_at"]
expected_squash = f"{store}/blobs/sha256_{squash[7:]}.erofs"
assert doc["rootfs_path"] == expected_squash, doc["rootfs_path"]
assert doc["lower_paths"] == [expected_squash] and doc["lower_fs_types"] == ["erofs"]
assert doc["layer_digests"] == [squash] and doc["size"] == 11000
assert [l["digest"] for l in doc["canonical_layers"]][0] == base
assert [l["size"] for l in doc["canonical_layers"]] == [10000, 2000]
assert doc["oci"]["env"] == {"PATH": "/usr/bin:/bin", "MODE": "test"}
assert doc["oci"]["cmd"] == ["--port", "8080"] and doc["oci"]["user"] == "app"
PY

log "inspect finds local tags before the registry cache; unknown is image-not-found"
[[ $(vm inspect mine | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["scope"], d["source"], d["size"])') == "local import 10500" ]] \
  || fail "inspect mine"
expect_fail vm inspect nope
grep -q "^vmimage: image not found: " "$WORK/err" || fail "unknown tag: $(cat "$WORK/err")"

log "ls: table, json, scopes"
vm ls >"$WORK/ls.txt"
head -1 "$WORK/ls.txt" | grep -Eq '^TAG +SCOPE +DIGEST +SIZE +CREATED$' || fail "ls header: $(head -1 "$WORK/ls.txt")"
grep -Eq '^mine +local +[0-9a-f]{12} +10\.5 kB +(just now|[0-9]+ seconds? ago)$' "$WORK/ls.txt" || fail "ls row: $(cat "$WORK/ls.txt")"
grep -Eq '^docker\.io/library/alpine:latest +registry +[0-9a-f]{12} +11\.0 kB ' "$WORK/ls.txt" || fail "ls row 2"
[[ $(wc -l <"$WORK/ls.txt") -eq 3 ]] || fail "ls lines"
[[ $(vm ls --json | python3 -c 'import json,sys; print(sorted((i["tag"], i["scope"]) for i in json.load(sys.stdin)))') \
   == "[('docker.io/library/alpine:latest', 'registry'), ('mine', 'local')]" ]] || fail "ls --json"
[[ $(vm ls --local -q) == "mine" ]] || fail "ls --local"
[[ $(vm ls --registry -q) == "docker.io/library/alpine:latest" ]] || fail "ls --registry"
[[ $(vm ls --all -q | wc -l) -eq 2 ]] || fail "ls --all"
expect_fail vm ls --local --registry
log "ok"
