#!/usr/bin/env bash
# verify re-hashes blobs and exits 1 on corrupt or missing ones; du splits
# shared and unique bytes per image.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
: "${VMIMAGE_TEST_TOOLS:?VMIMAGE_TEST_TOOLS must point at the test helper programs}"
fixture="$VMIMAGE_TEST_TOOLS/store_fixture"
store="$WORK/store"
vm() { "$VMIMAGE" --cache-dir "$store" "$@"; }
blob() { echo "$store/blobs/sha256_$("$fixture" "$store" digest "$1" | cut -d: -f2).erofs"; }

"$fixture" "$store" save local x base:1000,x:200
"$fixture" "$store" save registry y base:1000,y:30 ysq:1030

log "du"
vm du >"$WORK/du.txt"
grep -Eq '^4 +2\.26 kB +1\.00 kB +0 B$' "$WORK/du.txt" || fail "du totals: $(cat "$WORK/du.txt")"
grep -Eq '^y +registry +1\.06 kB +1\.00 kB$' "$WORK/du.txt" || fail "du per image: $(cat "$WORK/du.txt")"
[[ $(vm du --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["blobs"], d["bytes"], d["shared_bytes"], [(i["tag"], i["unique_bytes"], i["shared_bytes"]) for i in d["images"]])') \
   == "4 2260 1000 [('x', 200, 1000), ('y', 1060, 1000)]" ]] || fail "du --json: $(vm du --json)"

log "verify: clean"
vm verify >"$WORK/v.txt"
grep -qx "verified 4 blobs (2.26 kB): 0 problems" "$WORK/v.txt" || fail "clean verify: $(cat "$WORK/v.txt")"

log "verify: a flipped byte and a deleted blob"
printf 'Z' | dd of="$(blob x)" bs=1 seek=10 conv=notrunc status=none
rm -f "$(blob ysq)"
if vm verify >"$WORK/v.txt"; then fail "verify passed on a damaged store"; fi
grep -q "^corrupt $("$fixture" "$store" digest x) (erofs) " "$WORK/v.txt" || fail "corrupt not reported: $(cat "$WORK/v.txt")"
grep -q "^missing $("$fixture" "$store" digest ysq) (erofs) " "$WORK/v.txt" || fail "missing not reported"
grep -q ": 2 problems$" "$WORK/v.txt" || fail "summary: $(cat "$WORK/v.txt")"
[[ $(vm verify --json y | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["blobs_checked"], [p["problem"] for p in d["problems"]])') \
   == "3 ['missing']" ]] || fail "verify --json y"
if vm verify -q x >/dev/null; then fail "verify x passed"; fi
expect_fail vm verify nope
grep -q "^vmimage: image not found: " "$WORK/err" || fail "verify unknown"
log "ok"
