#!/usr/bin/env bash
# Names that are not UTF-8 (docs/security.md): tags are checked against the
# reference grammar at the door, paths that would have to appear in JSON are
# refused with a clear error, and a store holding such a tag (written by an
# older version) is never wedged: JSON output reports it, other commands work.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
cache="$WORK/cache"
vmi() { "$VMIMAGE" --cache-dir "$cache" "$@"; }
bad=$(printf 'a\xff:v')

mkdir -p "$WORK/rootfs/etc" && echo hi >"$WORK/rootfs/etc/motd"
tar -C "$WORK/rootfs" -cf "$WORK/layer.tar" etc
python3 "$TOOLS/pack_image.py" "$WORK/layout" v1 "$WORK/layer.tar" --compress gzip >/dev/null

# expect_clean_failure CODE WORDS CMD...: exits CODE (no abort), stderr holds WORDS.
expect_clean_failure() {
  local code=$1 words=$2 rc=0
  shift 2
  "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [[ $rc == "$code" ]] || fail "$*: exit $rc, want $code: $(cat "$WORK/err")"
  grep -qF -- "$words" "$WORK/err" || fail "$*: message lacks \"$words\": $(cat "$WORK/err")"
}

log "a tag that is not a reference is refused before anything is stored"
expect_clean_failure 2 "invalid image tag" vmi import "$bad" "$WORK/layout"
expect_clean_failure 2 'a\xff' vmi import "$bad" "$WORK/layout"
vmi -q import good:v1 "$WORK/layout"
expect_clean_failure 2 "invalid image tag" vmi tag good:v1 "$bad"
expect_clean_failure 2 "invalid port (1-65535)" vmi tag good:v1 "localhost:99999/a:b"
for cmd in "ls --json" "du --json" "inspect good:v1"; do
  vmi $cmd >/dev/null || fail "$cmd after the refused tags"
done
[[ $(vmi ls --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') == 1 ]] ||
  fail "only good:v1 should be stored"

log "paths that JSON cannot carry are refused with a clear error"
expect_clean_failure 2 "is not valid UTF-8" "$VMIMAGE" --cache-dir "$WORK/c$(printf '\xfe')" ls --json
expect_clean_failure 2 "is not valid UTF-8" "$VMIMAGE" --json mkfs "$WORK/layer.tar" \
  "$WORK/out$(printf '\xff').erofs"
[[ -z $(find "$WORK" -maxdepth 1 -name 'out*.erofs*') ]] || fail "mkfs left a file"
expect_clean_failure 2 "is not valid UTF-8" env VMIMAGE_CACHE_DIR="$WORK/e$(printf '\xff')" \
  "$VMIMAGE" ls

log "a store holding such a tag (from an older version) still works"
python3 - "$cache/store.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
row = db.execute("SELECT scope, digest, size, created_at, source, oci_json, id FROM images").fetchone()
cur = db.execute("INSERT INTO images (scope, tag, digest, size, created_at, source, oci_json) "
                 "VALUES (?, CAST(X'6f6c64ff3a76' AS TEXT), ?, ?, ?, ?, ?)", row[:6])
db.execute("INSERT INTO image_layers (image_id, role, position, digest, fs_type) "
           "SELECT ?, role, position, digest, fs_type FROM image_layers WHERE image_id = ?",
           (cur.lastrowid, row[6]))
db.commit()
PY
expect_clean_failure 1 "not UTF-8" vmi ls --json
expect_clean_failure 1 "not UTF-8" vmi du --json
vmi ls >/dev/null || fail "ls (table) with the old tag"
vmi inspect good:v1 >/dev/null || fail "inspect of another image"
vmi -q rm "old$(printf '\xff'):v" || fail "rm of the old tag"
vmi ls --json >/dev/null || fail "ls --json after removing the old tag"
vmi verify >/dev/null || fail "verify"
echo PASS
