#!/usr/bin/env bash
# Cancellation: SIGTERM (or SIGINT) during a pull, an import or a mkfs cancels
# the command, which unwinds and leaves nothing behind: no temporary file, no
# lease for gc to reap, no image recorded; the exit status says which signal.
source "$(dirname "$0")/lib.sh"
source "$TOOLS/registry/registry.sh"
cache="$WORK/cache"
vmi() { "$VMIMAGE" --cache-dir "$cache" "$@"; }

python3 "$TOOLS/registry/make_image.py" "$WORK/images" --tag v1 \
  --layer gzip:1:2:300000 --layer gzip:2:2:300000 >"$WORK/image.json"
start_registry "$WORK/reg"
R=127.0.0.1:$REGISTRY_PORT
push_layout "$WORK/images" v1 "$R/test/app:v1"
blob=$(json_get "$WORK/image.json" 'd["layers"][1]["digest"]')
start_python_server proxy fault_proxy.py --upstream "$R" --log "$WORK/requests.log" --lifetime 300 \
  --rules '[{"path":"/blobs/'"$blob"'","action":"stall","after":100000,"seconds":120}]'
P=127.0.0.1:$SERVER_PORT

# wait_for CONDITION...: up to 10 s.
wait_for() {
  for _ in $(seq 100); do
    "$@" && return 0
    sleep 0.1
  done
  fail "timed out waiting for: $*"
}
has_temp_files() { [[ -n $(ls -A "$cache/tmp" 2>/dev/null) ]]; }

# expect_clean SIGNAL PID: the command ends within 10 s of SIGNAL, of that signal,
# and the store holds nothing of it.
expect_clean() {
  local sig=$1 pid=$2 rc=0 start=$SECONDS
  kill "-$sig" "$pid"
  wait "$pid" || rc=$?
  ((SECONDS - start < 10)) || fail "took $((SECONDS - start)) s to stop"
  local want=$((128 + $(kill -l "$sig")))
  [[ $rc == "$want" ]] || fail "exit $rc after SIG$sig, want $want: $(cat "$WORK/err")"
  grep -q "cancelled by signal" "$WORK/err" || fail "message: $(cat "$WORK/err")"
  [[ -z $(ls -A "$cache/tmp") ]] || fail "left in tmp/: $(ls -A "$cache/tmp")"
  [[ -z $(ls -A "$cache/leases") ]] || fail "a lease was left: $(ls -A "$cache/leases")"
  [[ -z $(vmi ls -q) ]] || fail "an image was recorded"
  vmi --json gc >"$WORK/gc.json"
  [[ $(json_get "$WORK/gc.json" 'd["leases_reaped"]') == 0 ]] || fail "gc reaped a lease"
}

# run CMD...: in the background with SIGINT at its default (a non-interactive
# shell starts background jobs with SIGINT ignored, which vmimage respects).
run() {
  python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' "$@" &
}

log "SIGTERM while a pull waits for a stalled blob"
run "$VMIMAGE" --cache-dir "$cache" pull --layout layered "$P/test/app:v1" >/dev/null 2>"$WORK/err"
pid=$!
wait_for grep -qs "$blob" "$WORK/requests.log"
wait_for has_temp_files
expect_clean TERM "$pid"

log "SIGINT while an import reads an archive that does not end"
skopeo copy -q "oci:$WORK/images:v1" "oci-archive:$WORK/app.tar" >/dev/null
mkfifo "$WORK/fifo"
run "$VMIMAGE" --cache-dir "$cache" import app:v1 "$WORK/fifo" >/dev/null 2>"$WORK/err"
pid=$!
exec 3>"$WORK/fifo"
head -c 400000 "$WORK/app.tar" >&3
wait_for has_temp_files
expect_clean INT "$pid"
exec 3>&-

log "after the cancellations the same pull works"
vmi -q pull "$R/test/app:v1" >/dev/null || fail "pull"
vmi verify >/dev/null || fail "verify"
echo PASS
