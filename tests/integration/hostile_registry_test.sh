#!/usr/bin/env bash
# A hostile registry path (docs/security.md), with a real docker-registry behind
# a fault-injecting proxy: a manifest or blob sent a byte every few seconds ends
# on the minimum rate or the document deadline instead of hanging; a token that
# carries a header never reaches the wire; redirect loops and file:// or
# gopher:// redirects are named; an image of 10,000 layers is refused at resolve.
# Limits are set through $VMIMAGE_LIMITS so that each case ends in seconds.
source "$(dirname "$0")/lib.sh"
source "$TOOLS/registry/registry.sh"

python3 "$TOOLS/registry/make_image.py" "$WORK/images" --tag v1 \
  --layer gzip:1:2:300000 >"$WORK/image.json"
start_registry "$WORK/reg"
R=127.0.0.1:$REGISTRY_PORT
push_layout "$WORK/images" v1 "$R/test/app:v1"

# proxy RULES: a fault proxy in front of the registry; sets P (its host:port).
proxy() {
  : >"$WORK/requests.log"
  start_python_server proxy fault_proxy.py --upstream "$R" --rules "$1" --log "$WORK/requests.log" \
    --lifetime 300
  P=127.0.0.1:$SERVER_PORT
}

# expect_error SECONDS WORDS CMD...: fails (exit 1) within SECONDS with WORDS in
# its message; `timeout` is the guard that turns a hang into a test failure.
expect_error() {
  local limit=$1 words=$2 rc=0
  shift 2
  timeout "$limit" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  [[ $rc != 124 ]] || fail "$*: still waiting after $limit s (hung)"
  [[ $rc == 1 ]] || fail "$*: exit $rc, want 1: $(cat "$WORK/err")"
  grep -qF -- "$words" "$WORK/err" || fail "$*: message lacks \"$words\": $(cat "$WORK/err")"
}

log "a manifest trickled a byte every 2 s: too slow (min-rate over a 5 s window)"
proxy '[{"path":"/manifests/","action":"trickle","seconds":2}]'
VMIMAGE_LIMITS=rate-window=5s expect_error 60 "limit min-rate" "$VMIMAGE" resolve "$P/test/app:v1"

log "the same with no minimum rate: the document deadline ends it"
VMIMAGE_LIMITS=min-rate=0,document-timeout=6s expect_error 60 "limit document-timeout" \
  "$VMIMAGE" resolve "$P/test/app:v1"

log "a layer blob trickled during a pull"
proxy '[{"path":"/blobs/'"$(json_get "$WORK/image.json" 'd["layers"][0]["digest"]')"'","action":"trickle","seconds":1}]'
VMIMAGE_LIMITS=rate-window=5s expect_error 60 "limit min-rate" \
  "$VMIMAGE" --cache-dir "$WORK/cache" pull "$P/test/app:v1"
[[ -z $("$VMIMAGE" --cache-dir "$WORK/cache" ls -q) ]] || fail "a failed pull was recorded"

log "redirect loops and schemes other than http(s) are named"
proxy '[{"path":"/manifests/","action":"redirect","location":"{same}"}]'
expect_error 60 "more than 5 redirects (limit max-redirects)" "$VMIMAGE" resolve "$P/test/app:v1"
for target in file:///etc/passwd gopher://127.0.0.1:70/x; do
  proxy '[{"path":"/manifests/","action":"redirect","location":"'"$target"'"}]'
  expect_error 60 "only http and https URLs are followed" "$VMIMAGE" resolve "$P/test/app:v1"
  grep -qF "${target%%:*}" "$WORK/err" || fail "the message should name the refused URL"
done

log "an image of 10,000 layers is refused before any layer is fetched"
head -c 1000 /dev/urandom >"$WORK/one"
tar -C "$WORK" -cf - one | gzip -n >"$WORK/one.tar.gz"
python3 "$TOOLS/registry/push_raw.py" "$R" test/many v1 --layer "$WORK/one.tar.gz" \
  --layers 10000 >/dev/null
expect_error 60 "10000 layers, more than 500 (limit max-layers)" \
  "$VMIMAGE" --cache-dir "$WORK/cache" pull "$R/test/many:v1"

log "a token holding CR LF and a header of the token service's choosing"
stop_registry
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=signer" \
  -keyout "$WORK/token.key" -out "$WORK/token.pem" 2>/dev/null
start_python_server tokens token_server.py --key "$WORK/token.key" --cert "$WORK/token.pem" \
  --public test/app --inject-header --log "$WORK/tokens.log" --lifetime 120
start_registry "$WORK/reg" --token "http://127.0.0.1:$SERVER_PORT/token" \
  vmimage-test-registry vmimage-test-issuer "$WORK/token.pem"
R=127.0.0.1:$REGISTRY_PORT
proxy '[]'
expect_error 60 "b64token" "$VMIMAGE" resolve "$P/test/app:v1"
grep -q '"injected": true' "$WORK/requests.log" && fail "the injected header reached the registry"
grep -q '"path": "/token"' "$WORK/tokens.log" || fail "no token was asked for: $(cat "$WORK/tokens.log")"
echo PASS
