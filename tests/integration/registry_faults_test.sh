#!/usr/bin/env bash
# Faults injected by a proxy (tests/tools/registry/fault_proxy.py) in front of
# a real docker-registry: 500/503 and 429 + Retry-After are retried; a
# connection cut mid-blob resumes with a Range request, or restarts without
# duplicating bytes when the server ignores Range; a stalled transfer times out
# and resumes; retries are bounded; a corrupt blob and a wrong DiffID fail with
# errors naming the digest, and nothing derived from them is kept.
source "$(dirname "$0")/lib.sh"
source "$TOOLS/registry/registry.sh"

python3 "$TOOLS/registry/make_image.py" "$WORK/images" --tag good \
  --layer gzip:1:3:200000 --layer zstd:2:1:100000 --layer none:3:2:30000 >"$WORK/good.json"
python3 "$TOOLS/registry/make_image.py" "$WORK/images" --tag baddiff --bad-diffid 1 \
  --layer gzip:1:3:200000 --layer zstd:4:1:1000 >"$WORK/baddiff.json"
start_registry "$WORK/reg"
for repo in r500 r429 rcut rnorange rstall rcorrupt rdown; do
  push_layout "$WORK/images" good "127.0.0.1:$REGISTRY_PORT/faults/$repo:v1"
done
push_layout "$WORK/images" baddiff "127.0.0.1:$REGISTRY_PORT/faults/baddiff:v1"

big=$(json_get "$WORK/good.json" 'd["layers"][0]["digest"]')  # ~300 kB gzip layer
rules=$(cat <<RULES
[
 {"path": "/v2/faults/r500/manifests/", "action": "status", "status": 500, "times": 2},
 {"path": "/v2/faults/r500/blobs/$big", "action": "status", "status": 503, "times": 1},
 {"path": "/v2/faults/r429/manifests/", "action": "status", "status": 429,
  "headers": {"Retry-After": "1"}, "times": 1},
 {"path": "/v2/faults/rcut/blobs/$big", "action": "cut", "after": 70000, "times": 1},
 {"path": "/v2/faults/rnorange/blobs/$big", "action": "cut", "after": 70000, "times": 1},
 {"path": "/v2/faults/rnorange/blobs/$big", "action": "no_range"},
 {"path": "/v2/faults/rstall/blobs/$big", "action": "stall", "after": 90000, "seconds": 20,
  "times": 1},
 {"path": "/v2/faults/rcorrupt/blobs/$big", "action": "corrupt", "offset": 1234},
 {"path": "/v2/faults/rdown/", "action": "status", "status": 502}
]
RULES
)
start_python_server proxy fault_proxy.py --upstream "127.0.0.1:$REGISTRY_PORT" \
  --rules "$rules" --log "$WORK/proxy.log" --lifetime 120
P=127.0.0.1:$SERVER_PORT
export VMIMAGE_REGISTRY_BACKOFF_MS=100 VMIMAGE_REGISTRY_STALL_TIMEOUT=2
requests() { grep -c "\"path\": \"$1" "$WORK/proxy.log" || true; }
seconds_since() { echo $((SECONDS - $1)); }

fetch_ok() {  # fetch_ok REPO: all layers arrive and match their DiffIDs
  "$VMIMAGE" -q fetch-layers "$P/faults/$1:v1" --output-dir "$WORK/out-$1" --jobs 3 >/dev/null ||
    fail "fetch of faults/$1 failed"
  check_layer_tars "$WORK/out-$1" "$WORK/good.json"
}

log "500, 500, then the manifest; 503 then the blob"
fetch_ok r500
[[ $(requests /v2/faults/r500/manifests/) == 3 ]] || fail "manifest requests: $(requests /v2/faults/r500/manifests/)"
[[ $(requests "/v2/faults/r500/blobs/$big") == 2 ]] || fail "blob requests"

log "429 with Retry-After: 1 is honoured"
start=$SECONDS
"$VMIMAGE" resolve "$P/faults/r429:v1" >/dev/null
(($(seconds_since $start) >= 1)) || fail "Retry-After was not honoured"
[[ $(requests /v2/faults/r429/manifests/) == 2 ]] || fail "429 not retried once"

log "a connection cut mid-blob resumes with Range"
fetch_ok rcut
grep "/v2/faults/rcut/blobs/$big" "$WORK/proxy.log" | grep -q '"range": "bytes=70000-"' ||
  fail "no Range resume: $(grep rcut "$WORK/proxy.log")"

log "without Range support the download restarts and skips what was delivered"
fetch_ok rnorange
grep "/v2/faults/rnorange/blobs/$big" "$WORK/proxy.log" | grep -q '"range": "bytes=70000-", "authorization": false, "action": "no_range"' ||
  fail "no restart: $(grep rnorange "$WORK/proxy.log")"

log "a stalled transfer is abandoned after the stall timeout and resumed"
start=$SECONDS
fetch_ok rstall
(($(seconds_since $start) < 15)) || fail "the stall was not cut short"
grep "/v2/faults/rstall/blobs/$big" "$WORK/proxy.log" | grep -q '"range": "bytes=90000-"' ||
  fail "no resume after the stall"

log "a registry that keeps failing: bounded retries, a clear error"
start=$SECONDS
VMIMAGE_REGISTRY_RETRIES=2 expect_fail "$VMIMAGE" resolve "$P/faults/rdown:v1"
grep -q "502 Bad Gateway after 3 attempts" "$WORK/err" || fail "$(cat "$WORK/err")"
(($(seconds_since $start) < 10)) || fail "retries took too long"

log "a corrupt blob: an image digest error naming the digest; nothing kept"
expect_fail "$VMIMAGE" -q fetch-layers "$P/faults/rcorrupt:v1" --output-dir "$WORK/out-corrupt" --jobs 1
grep -q "image digest: .*blob $big .*digest mismatch: expected $big" "$WORK/err" ||
  fail "$(cat "$WORK/err")"
[[ -z $(ls -A "$WORK/out-corrupt") ]] || fail "files kept after a digest mismatch: $(ls -A "$WORK/out-corrupt")"

log "a wrong DiffID: an error naming the DiffID; nothing kept for that layer"
bad=$(json_get "$WORK/baddiff.json" 'd["layers"][1]["diff_id"]')
expect_fail "$VMIMAGE" -q fetch-layers "$P/faults/baddiff:v1" --output-dir "$WORK/out-bad" --layer 1
grep -q "image digest: .*DiffID $bad.*digest mismatch: expected $bad" "$WORK/err" ||
  fail "$(cat "$WORK/err")"
[[ -z $(ls -A "$WORK/out-bad") ]] || fail "files kept after a DiffID mismatch"
echo PASS
