#!/usr/bin/env bash
# gc beside concurrent pulls and imports (issue 14, item 14): images of 1, 2
# and 3 layers over one base, the upper layers with whiteouts and implied
# directories (so their blobs are written under one key and committed under
# another), pulled and imported at the same time, 50 rounds, with `gc` looping
# every 20 ms. Every command must succeed and the store must verify clean.
source "$(dirname "$0")/lib.sh"
source "$TOOLS/registry/registry.sh"
ROUNDS=${STRESS_ROUNDS:-50}
cache="$WORK/cache"
vmi() { "$VMIMAGE" --cache-dir "$cache" "$@"; }

python3 - "$WORK" <<'PY'
import io, sys, tarfile
work = sys.argv[1]
def layer(name, members):
    with tarfile.open("%s/%s.tar" % (work, name), "w", format=tarfile.PAX_FORMAT) as t:
        for path, kind, data in members:
            ti = tarfile.TarInfo(path)
            ti.mtime = 1700000000
            ti.type = kind
            ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
F, D = tarfile.REGTYPE, tarfile.DIRTYPE
base = [(".", D, b""), ("etc", D, b""), ("etc/os-release", F, b"ID=test\n"), ("usr", D, b""),
        ("usr/bin", D, b""), ("usr/lib", D, b""), ("var", D, b""), ("var/lib", D, b""),
        ("var/lib/dpkg", D, b"")]
base += [("usr/lib/f%03d" % i, F, b"x" * (i * 37 % 5000)) for i in range(60)]
layer("base", base)
# Implied directories (usr/share/doc is not listed) and whiteouts of the base.
# Thousands of entries: completing these layers (phase 2) takes a while, the
# window in which the base's blob waits for its commit under its DiffID.
many = [("usr/share/doc/pkg%04d/copyright" % i, F, b"c" * (i % 300)) for i in range(4000)]
layer("two", [("usr/share/doc/app/README", F, b"app\n"), ("usr/lib/.wh.f001", F, b""),
              ("etc/.wh.os-release", F, b""), ("usr/bin/app", F, b"#!/bin/sh\n")] + many)
layer("three", [("usr/share/doc/.wh..wh..opq", F, b""), ("usr/share/doc/new", F, b"n"),
                ("var/lib/dpkg/status", F, b"s" * 3000), ("usr/lib/.wh.f002", F, b"")] +
      [(p.replace("pkg", "new"), k, d) for p, k, d in many])
PY
for t in base two three; do gzip -nc "$WORK/$t.tar" >"$WORK/$t.tar.gz"; done
pack() { python3 "$TOOLS/pack_image.py" "$WORK/layout" "$@" --compress gzipped >/dev/null; }
pack one "$WORK/base.tar.gz"
pack two "$WORK/base.tar.gz" "$WORK/two.tar.gz"
pack three "$WORK/base.tar.gz" "$WORK/two.tar.gz" "$WORK/three.tar.gz"

start_registry "$WORK/reg"
R=127.0.0.1:$REGISTRY_PORT
for t in one two three; do push_layout "$WORK/layout" "$t" "$R/stress/$t:v1"; done

gc_loop() {
  while [[ ! -e "$WORK/stop" ]]; do
    vmi -q gc 2>>"$WORK/gc.err" || echo "gc failed" >>"$WORK/gc.err"
    sleep 0.02
  done
}

log "$ROUNDS rounds of three pulls and two imports with gc looping beside them"
gc_loop &
gc_pid=$!
on_exit "touch $WORK/stop; wait $gc_pid 2>/dev/null"
for round in $(seq 1 "$ROUNDS"); do
  pids=()
  for t in one two three; do
    vmi -q pull --force --layout layered "$R/stress/$t:v1" >/dev/null 2>"$WORK/pull-$t.err" &
    pids+=($!)
  done
  vmi -q import --layout layered "imp-two:v1" "$WORK/layout" --ref two 2>"$WORK/imp-two.err" &
  pids+=($!)
  vmi -q import --layout squashed "imp-three:v1" "$WORK/layout" --ref three \
    2>"$WORK/imp-three.err" &
  pids+=($!)
  failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  if ((failed)); then
    cat "$WORK"/pull-*.err "$WORK"/imp-*.err >&2
    fail "round $round: a pull or an import failed"
  fi
  # Remove everything so the next round converts and commits again.
  vmi -q rm "$R/stress/one:v1" "$R/stress/two:v1" "$R/stress/three:v1" imp-two:v1 imp-three:v1 ||
    fail "round $round: rm"
done
touch "$WORK/stop"
wait "$gc_pid"
[[ ! -s "$WORK/gc.err" ]] || fail "gc reported: $(cat "$WORK/gc.err")"

log "the store is whole: a last pull verifies, nothing is left over"
vmi -q pull --layout layered "$R/stress/three:v1" >/dev/null || fail "final pull"
vmi verify >/dev/null || fail "verify"
vmi -q gc
[[ -z $(ls -A "$cache/tmp") ]] || fail "left in tmp/: $(ls -A "$cache/tmp")"
echo PASS
