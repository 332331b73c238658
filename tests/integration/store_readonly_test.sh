#!/usr/bin/env bash
# A store on a read-only filesystem: ls, inspect and verify work; rm, tag and
# gc fail with a store-save error and change nothing.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
: "${VMIMAGE_TEST_TOOLS:?VMIMAGE_TEST_TOOLS must point at the test helper programs}"
require_root
fixture="$VMIMAGE_TEST_TOOLS/store_fixture"
mnt="$WORK/mnt"
store="$mnt/store"
vm() { "$VMIMAGE" --cache-dir "$store" "$@"; }

mkdir -p "$mnt"
mount -t tmpfs -o size=4m tmpfs "$mnt"
_mounts+=("$mnt")
"$fixture" "$store" save local img base:5000
find "$store" -type f | sort >"$WORK/before"
mount -o remount,ro "$mnt"

[[ $(vm ls -q) == "img" ]] || fail "ls on a read-only store"
vm inspect img >/dev/null
vm verify -q
for cmd in "rm img" "tag img other" "gc"; do
  # shellcheck disable=SC2086
  expect_fail vm $cmd
  grep -q "^vmimage: store save: .*read-only" "$WORK/err" || fail "$cmd: $(cat "$WORK/err")"
done
mount -o remount,rw "$mnt"
find "$store" -type f | sort >"$WORK/after"
diff "$WORK/before" "$WORK/after" || fail "the read-only store changed"
[[ $(vm ls -q) == "img" ]] || fail "image lost"
log "ok"
