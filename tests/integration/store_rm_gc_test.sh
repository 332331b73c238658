#!/usr/bin/env bash
# tag, rm and gc: shared blobs stay while an image uses them; rm of everything
# then gc leaves no blobs; an unknown tag is an image-not-found error.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
: "${VMIMAGE_TEST_TOOLS:?VMIMAGE_TEST_TOOLS must point at the test helper programs}"
fixture="$VMIMAGE_TEST_TOOLS/store_fixture"
store="$WORK/store"
vm() { "$VMIMAGE" --cache-dir "$store" "$@"; }
blob() { echo "$store/blobs/sha256_$("$fixture" "$store" digest "$1" | cut -d: -f2).erofs"; }
nblobs() { find "$store/blobs" -type f | wc -l; }

"$fixture" "$store" save registry reg/a:1 base:8000,a:1000
"$fixture" "$store" save registry reg/b:1 base:8000,b:2000
[[ $(nblobs) -eq 3 ]] || fail "shared base stored once: $(nblobs) blobs"

log "tag makes a local entry with the same layers"
vm tag reg/a:1 mytag
[[ $(vm inspect mytag | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["scope"], d["source"])') == "local tag" ]] \
  || fail "tag"
expect_fail vm tag missing other
grep -q "^vmimage: image not found: " "$WORK/err" || fail "tag of unknown: $(cat "$WORK/err")"

log "rm of the registry entry keeps blobs the local tag uses"
vm rm reg/a:1 >"$WORK/rm.txt"
grep -q "removed reg/a:1 (registry)" "$WORK/rm.txt" || fail "rm output: $(cat "$WORK/rm.txt")"
grep -q "pruned 0 blobs" "$WORK/rm.txt" || fail "nothing to prune: $(cat "$WORK/rm.txt")"
[[ -f $(blob a) && -f $(blob base) ]] || fail "blobs of mytag removed"

log "rm prunes the blobs only it used; unknown tags fail but the rest is removed"
expect_fail vm rm mytag nope
grep -q "^vmimage: image not found: no image tagged nope" "$WORK/err" || fail "rm unknown: $(cat "$WORK/err")"
[[ ! -e $(blob a) ]] || fail "a's blob kept"
[[ -f $(blob base) && -f $(blob b) ]] || fail "b's blobs removed"
vm inspect reg/b:1 >/dev/null

log "rm --json, then gc leaves no blobs"
[[ $(vm rm --json reg/b:1 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["blobs_removed"], d["bytes_removed"])') == "2 10000" ]] \
  || fail "rm --json"
[[ $(nblobs) -eq 0 ]] || fail "blobs left: $(nblobs)"

log "gc counts crash leftovers"
"$fixture" "$store" save local keep keep:100
printf 'orphan' >"$store/blobs/sha256_$(printf '%064d' 7).erofs"
printf 'partial' >"$store/tmp/sha256_$(printf '%064d' 8).erofs.00112233aabbccdd.tmp"
vm gc >"$WORK/gc.txt"
grep -qx "removed 1 blobs and 1 temp files, 13 bytes (13 B)" "$WORK/gc.txt" || fail "gc: $(cat "$WORK/gc.txt")"
[[ $(vm gc --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["blobs_removed"], d["temp_files_removed"])') == "0 0" ]] \
  || fail "second gc"
[[ $(nblobs) -eq 1 ]] || fail "kept blob"
vm verify -q
log "ok"
