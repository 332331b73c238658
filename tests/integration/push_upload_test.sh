#!/usr/bin/env bash
# How push sends blobs, against a real docker-registry behind a proxy that
# watches (referrers_proxy.py): layers go up in parallel (--jobs), one at a time
# with --jobs 1; a blob larger than a chunk goes up in PATCH chunks; a chunk
# lost on the way is sent again from where the registry stands (its upload
# status), not from the start, whether the digest is known or hashed on the
# way; a chunk cut short resumes or starts over, and the registry gets the
# same bytes either way.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root
source "$TOOLS/registry/registry.sh"

python3 "$TOOLS/make_layers.py" all "$WORK/layers"
dir="$WORK/layers/stacks/main"
tars=()
for i in $(seq 1 "$(ls "$dir"/*.tar | wc -l)"); do tars+=("$dir/$i.tar"); done
python3 "$TOOLS/pack_image.py" "$WORK/oci" main "${tars[@]}" --compress gzip >/dev/null
start_registry "$WORK/reg"
R=127.0.0.1:$REGISTRY_PORT
push_layout "$WORK/oci" main "$R/src/main:v1"
A=$WORK/host-a
vmi() { "$VMIMAGE" --cache-dir "$A" "$@"; }
vmi -q pull --layout layered "$R/src/main:v1" >/dev/null
vmi --json inspect "$R/src/main:v1" >"$WORK/src.json"
mapfile -t blobs < <(json_get "$WORK/src.json" '[l["path"] for l in d["canonical_layers"]]')
((${#blobs[@]} >= 2)) || fail "the test image needs two layers or more"

# Chunks small enough that every layer takes several.
export VMIMAGE_REGISTRY_UPLOAD_CHUNK=65536 VMIMAGE_REGISTRY_BACKOFF_MS=50
chunk=$VMIMAGE_REGISTRY_UPLOAD_CHUNK
big=0
for b in "${blobs[@]}"; do (($(stat -c %s "$b") > 3 * chunk)) && big=$((big + 1)); done
((big >= 1)) || fail "no layer spans three chunks"

# check_chunks LOG LOST: the PATCHes of each upload session (its URL's path)
# cover [0, size) in order, one after the other, but for LOST chunks sent
# again at the offset the registry reported; prints the number of sessions.
check_chunks() {
  python3 - "$1" "$2" <<'EOF'
import json, sys
from collections import OrderedDict
sessions, again = OrderedDict(), 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["method"] != "PATCH" or e.get("fault"):
        continue
    start, end = (int(x) for x in e["content_range"].split("-"))
    sessions.setdefault(e["path"].split("?")[0], []).append((start, end))
for path, ranges in sessions.items():
    at = 0
    for start, end in ranges:
        if start < at:
            again += 1
        elif start != at:
            sys.exit("%s: a chunk at %d, expected %d: %s" % (path, start, at, ranges))
        at = end + 1
if again != int(sys.argv[2]):
    sys.exit("%d chunks sent again, expected %s" % (again, sys.argv[2]))
print(len(sessions))
EOF
}

# same_blobs JSON REGISTRY REPO: every layer the push reports is the store's blob.
same_blobs() {
  mapfile -t digests < <(json_get "$1" '[l["digest"] for l in d["layers"]]')
  for i in "${!digests[@]}"; do
    curl -fsS -o "$WORK/got.erofs" "http://$2/v2/$3/blobs/${digests[i]}" || fail "GET ${digests[i]}"
    cmp -s "$WORK/got.erofs" "${blobs[i]}" || fail "layer $i in $3 differs from the store's blob"
  done
}

log "a chunk lost on the way, digests hashed as they go: the upload resumes where the registry stands"
start_python_server lost referrers_proxy.py --upstream "$R" --log "$WORK/lost.log" --drop-patch 3 --lifetime 300
P=127.0.0.1:$SERVER_PORT
vmi --json push "$R/src/main:v1" "$P/lost/main:v1" >"$WORK/lost.json" 2>"$WORK/err" ||
  fail "push with a lost chunk: $(cat "$WORK/err")"
logged=$(cat "$WORK/lost.log")
grep -q '"fault": "drop"' <<<"$logged" || fail "no chunk was dropped"
grep -q '"method": "GET", "path": "/v2/lost/main/blobs/uploads/' <<<"$logged" ||
  fail "the upload's status was never asked"
sessions=$(check_chunks "$WORK/lost.log" 1) || fail "chunks of the resumed push"
posts=$(grep -c '"method": "POST", "path": "/v2/lost/main/blobs/uploads/' <<<"$logged")
# One session per chunked layer, one for the config, none started over.
((sessions == ${#blobs[@]} && posts == ${#blobs[@]} + 1)) ||
  fail "$sessions chunked sessions and $posts POSTs for ${#blobs[@]} layers"
same_blobs "$WORK/lost.json" "$R" lost/main
log "($sessions layers in $(grep -c '"method": "PATCH"' <<<"$logged") PATCHes, one lost and sent again)"

log "the same with the digests known (the second push): resumed, same manifest"
start_python_server lost2 referrers_proxy.py --upstream "$R" --log "$WORK/lost2.log" --drop-patch 2 --lifetime 300
P=127.0.0.1:$SERVER_PORT
vmi --json push "$R/src/main:v1" "$P/lost2/main:v1" >"$WORK/lost2.json" 2>"$WORK/err" ||
  fail "push with known digests and a lost chunk: $(cat "$WORK/err")"
check_chunks "$WORK/lost2.log" 1 >/dev/null || fail "chunks of the resumed push with known digests"
[[ $(json_get "$WORK/lost2.json" 'd["digest"]') == $(json_get "$WORK/lost.json" 'd["digest"]') ]] ||
  fail "the known-digest push gave another manifest"
same_blobs "$WORK/lost2.json" "$R" lost2/main

log "a chunk cut short: resumed or started over, the same bytes arrive"
start_python_server cut referrers_proxy.py --upstream "$R" --log "$WORK/cut.log" --cut-patch 2:1000 --lifetime 300
P=127.0.0.1:$SERVER_PORT
vmi --json push "$R/src/main:v1" "$P/cut/main:v1" >"$WORK/cut.json" 2>"$WORK/err" ||
  fail "push with a cut chunk: $(cat "$WORK/err")"
logged=$(cat "$WORK/cut.log")
grep -q '"fault": "cut"' <<<"$logged" || fail "no chunk was cut"
same_blobs "$WORK/cut.json" "$R" cut/main
log "(the registry then held $(python3 - "$WORK/cut.log" <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
cut = next(i for i, e in enumerate(lines) if e.get("fault") == "cut")
nxt = next((e for e in lines[cut + 1:] if e["method"] == "PATCH" and e["path"].split("?")[0] == lines[cut]["path"].split("?")[0]), None)
print("a part: resumed at " + nxt["content_range"] if nxt else "nothing usable: started over")
EOF
))"

log "a push that gave up mid-blob goes on from where the registry stands when run again"
# A fresh store: every digest is learned on the way, so the next run must hash
# what the registry already holds before it sends the rest.
H=$WORK/host-h
"$VMIMAGE" -q --cache-dir "$H" pull --layout layered "$R/src/main:v1" >/dev/null
(($(stat -c %s "${blobs[0]}") > 3 * chunk)) || fail "the first layer must span three chunks (the third is dropped)"
start_python_server halt referrers_proxy.py --upstream "$R" --log "$WORK/halt.log" --drop-patch 3 --lifetime 300
P=127.0.0.1:$SERVER_PORT
VMIMAGE_REGISTRY_RETRIES=0 expect_fail "$VMIMAGE" --cache-dir "$H" push --jobs 1 "$R/src/main:v1" "$P/halt/main:v1"
kept() { python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM upload_sessions").fetchone()[0])' "$H/store.db"; }
sessions=$(kept)
[[ $sessions == 1 ]] || fail "the unfinished upload was not kept ($sessions sessions)"
cut_at=$(python3 -c '
import json, sys
e = [json.loads(l) for l in open(sys.argv[1]) if "\"fault\"" in l][0]
print(e["path"].split("?")[0], e["content_range"].split("-")[0])' "$WORK/halt.log")
read -r cut_path cut_start <<<"$cut_at"
: >"$WORK/halt.log"
"$VMIMAGE" --cache-dir "$H" --json push --jobs 1 "$R/src/main:v1" "$P/halt/main:v1" >"$WORK/halt.json" ||
  fail "the push run again"
first=$(python3 -c '
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["method"] == "PATCH" and e["path"].split("?")[0] == sys.argv[2]:
        print(e["content_range"]); break' "$WORK/halt.log" "$cut_path")
[[ ${first%-*} == "$cut_start" ]] ||
  fail "the run again did not go on in the kept session at $cut_start (its first PATCH there: ${first:-none})"
grep -q "\"method\": \"PUT\", \"path\": \"$cut_path?" "$WORK/halt.log" || fail "the kept session was not completed"
# The rest went up in one session each: the resumed one was not started over
# (as it would be if the digest learned across the two runs were wrong).
posts=$(grep -c '"method": "POST", "path": "/v2/halt/main/blobs/uploads/' "$WORK/halt.log")
((posts == ${#blobs[@]})) || fail "$posts sessions begun by the run again; expected ${#blobs[@]} (the other layers and the config)"
[[ $(kept) == 0 ]] || fail "a finished upload is still kept"
[[ $(json_get "$WORK/halt.json" 'd["digest"]') == $(json_get "$WORK/lost.json" 'd["digest"]') ]] ||
  fail "the resumed push gave another manifest"
same_blobs "$WORK/halt.json" "$R" halt/main

log "a registry that never takes the blob: the push ends, after a bounded number of sessions"
start_python_server never referrers_proxy.py --upstream "$R" --log "$WORK/never.log" --fail-uploads-after 0 --lifetime 300
P=127.0.0.1:$SERVER_PORT
# A fresh store, digests learned on the way: each chunk the registry takes
# refills the failures allowed in a row; the session holds every byte, so the
# blob is committed again on it (not sent again) until they run out.
N=$WORK/host-n
"$VMIMAGE" -q --cache-dir "$N" pull --layout layered "$R/src/main:v1" >/dev/null
VMIMAGE_REGISTRY_RETRIES=2 expect_fail timeout 120 "$VMIMAGE" --cache-dir "$N" push "$R/src/main:v1" "$P/never/main:v1"
grep -q 'giving up after 3 attempts' "$WORK/err" || fail "no bounded give-up: $(cat "$WORK/err")"
resends=$(python3 -c '
import json, sys
from collections import Counter
starts = Counter()
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["method"] == "PATCH":
        starts[(e["path"].split("?")[0], e["content_range"])] += 1
print(max(starts.values()))' "$WORK/never.log")
((resends == 1)) || fail "a chunk was sent $resends times: the blob was sent again to commit it"
# Digests known, blobs of one chunk: one PUT each, the failures in a row end it.
VMIMAGE_REGISTRY_UPLOAD_CHUNK=$((64 << 20)) VMIMAGE_REGISTRY_RETRIES=2 expect_fail timeout 120 \
  "$VMIMAGE" --cache-dir "$H" push "$R/src/main:v1" "$P/never/main:v1"
grep -q 'giving up after 3 attempts' "$WORK/err" || fail "no bounded give-up of a one-PUT upload: $(cat "$WORK/err")"
posts=$(grep -c '"method": "POST"' "$WORK/never.log")
((posts <= 6 * ${#blobs[@]})) || fail "$posts upload sessions for ${#blobs[@]} layers, two pushes with 2 retries"

unset VMIMAGE_REGISTRY_UPLOAD_CHUNK
log "a layer refused stops the layers still going up: the slow one never completes, the refusal is the error"
# Host A knows every digest: each layer is one PUT. The 1 MiB layer's body is
# read slowly (4 s); the small ones are refused at once.
start_python_server stop referrers_proxy.py --upstream "$R" --log "$WORK/stop.log" \
  --slow-bodies-over 100000 --refuse-bodies-under 100000 --lifetime 300
P=127.0.0.1:$SERVER_PORT
big=$(json_get "$WORK/lost.json" '[l["digest"] for l in d["layers"] if l["size"] > 100000][0]')
expect_fail vmi push --jobs 4 "$R/src/main:v1" "$P/stop/main:v1"
grep -q '400 Bad Request (BLOB_UPLOAD_INVALID: refused by the test)' "$WORK/err" ||
  fail "the push's error is not the refusal: $(cat "$WORK/err")"
# The proxy reads the slow body to its end (4 s) and passes it on only if the
# client is still there to hear the answer.
for _ in $(seq 1 20); do
  grep -q '"gone": true' "$WORK/stop.log" && break
  sleep 0.5
done
grep -q '"gone": true' "$WORK/stop.log" || fail "the slow layer's upload went on although a sibling had failed"
code=$(curl -s -o /dev/null -w '%{http_code}' -I "http://$R/v2/stop/main/blobs/$big")
[[ $code == 404 ]] || fail "the slow layer went up although its push had stopped (HEAD: $code)"

log "layers go up in parallel: two uploads in flight at once"
start_python_server par referrers_proxy.py --upstream "$R" --log "$WORK/par.log" --upload-barrier 2 \
  --barrier-seconds 20 --lifetime 300
P=127.0.0.1:$SERVER_PORT
vmi --json push --jobs 3 "$R/src/main:v1" "$P/par/main:v1" >"$WORK/par.json" || fail "parallel push"
logged=$(cat "$WORK/par.log")
[[ $(grep -c '"barrier": "met"' <<<"$logged") == 2 ]] || fail "no two uploads at once: $(grep barrier <<<"$logged")"
same_blobs "$WORK/par.json" "$R" par/main

log "--jobs 1: one at a time"
start_python_server seq referrers_proxy.py --upstream "$R" --log "$WORK/seq.log" --upload-barrier 2 \
  --barrier-seconds 1 --lifetime 300
P=127.0.0.1:$SERVER_PORT
vmi --json push --jobs 1 "$R/src/main:v1" "$P/seq/main:v1" >"$WORK/seq.json" || fail "push --jobs 1"
logged=$(cat "$WORK/seq.log")
[[ $(grep -c '"barrier": "timeout"' <<<"$logged") == 2 ]] || fail "--jobs 1 sent two at once: $(grep barrier <<<"$logged")"
[[ $(json_get "$WORK/seq.json" 'd["digest"]') == $(json_get "$WORK/par.json" 'd["digest"]') ]] ||
  fail "--jobs 1 gave another manifest"
expect_fail vmi push --jobs 0 "$R/src/main:v1" "$P/seq/main:v2"

log "PASS"
