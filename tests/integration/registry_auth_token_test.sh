#!/usr/bin/env bash
# The Bearer token flow end to end: docker-registry with `auth: token` and a
# token service (tests/tools/registry/token_server.py) that signs JWTs the
# registry verifies. Anonymous tokens for a public repository, Basic
# credentials at the token service, the OAuth2 refresh-token grant for an
# identitytoken, a token cached across requests, and an expired token refreshed
# after the registry's 401.
source "$(dirname "$0")/lib.sh"
source "$TOOLS/registry/registry.sh"

python3 "$TOOLS/registry/make_image.py" "$WORK/images" --tag v1 \
  --layer gzip:1:2:40000 --layer none:2:1:5000 --layer zstd:3:1:9000 >"$WORK/image.json"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=vmimage token signer" \
  -keyout "$WORK/token.key" -out "$WORK/token.pem" 2>/dev/null

start_registry "$WORK/reg"
push_layout "$WORK/images" v1 "127.0.0.1:$REGISTRY_PORT/pub/app:v1"
push_layout "$WORK/images" v1 "127.0.0.1:$REGISTRY_PORT/priv/app:v1"
stop_registry

# start_tokens ARGS...: a token service logging to $WORK/tokens.log, and a
# registry trusting it.
start_tokens() {
  start_python_server tokens token_server.py --key "$WORK/token.key" --cert "$WORK/token.pem" \
    --user bob:hunter2-pass --public pub/app --refresh-token rt-bob-0123456789:bob \
    --log "$WORK/tokens.log" --lifetime 120 "$@"
  start_registry "$WORK/reg" --token "http://127.0.0.1:$SERVER_PORT/token" \
    vmimage-test-registry vmimage-test-issuer "$WORK/token.pem"
  R=127.0.0.1:$REGISTRY_PORT
}
token_log() { : >"$WORK/tokens.log"; }
tokens_issued() { grep -c '"granted"' "$WORK/tokens.log" || true; }

export HOME=$WORK/home DOCKER_CONFIG=$WORK/docker
unset REGISTRY_AUTH_FILE XDG_RUNTIME_DIR
mkdir -p "$HOME" "$DOCKER_CONFIG"
start_tokens

log "anonymous token for a public repository; one token serves every request of a run"
token_log
"$VMIMAGE" -q fetch-layers "$R/pub/app:v1" --output-dir "$WORK/out1" --jobs 3 >"$WORK/r1.json"
check_layer_tars "$WORK/out1" "$WORK/image.json"
[[ $(tokens_issued) == 1 ]] || fail "expected one token, log: $(cat "$WORK/tokens.log")"
json_get "$WORK/tokens.log" 'd["scope"][0]' | grep -qx "repository:pub/app:pull" ||
  fail "scope: $(cat "$WORK/tokens.log")"
grep -q '"auth": "none"' "$WORK/tokens.log" || fail "anonymous request expected"

log "a private repository without credentials: the token grants nothing, the registry refuses"
expect_fail "$VMIMAGE" resolve "$R/priv/app:v1"
grep -q "401 Unauthorized" "$WORK/err" || fail "$(cat "$WORK/err")"
grep -q "no credentials found for $R" "$WORK/err" || fail "$(cat "$WORK/err")"

log "Basic credentials at the token service (GET with account=)"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$R" "$(printf bob:hunter2-pass | base64 -w0)" \
  >"$DOCKER_CONFIG/config.json"
token_log
"$VMIMAGE" -q fetch-layers "$R/priv/app:v1" --output-dir "$WORK/out2" >/dev/null
check_layer_tars "$WORK/out2" "$WORK/image.json"
grep -q '"auth": "basic:bob".*"account": "bob".*"granted": \["priv/app"\]' "$WORK/tokens.log" ||
  fail "token request: $(cat "$WORK/tokens.log")"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$R" "$(printf bob:wrong-pass | base64 -w0)" \
  >"$DOCKER_CONFIG/config.json"
expect_fail "$VMIMAGE" resolve "$R/priv/app:v1"
grep -q "refused access to repository:priv/app:pull (401 Unauthorized); credentials for $R from" \
  "$WORK/err" || fail "$(cat "$WORK/err")"
! grep -q wrong-pass "$WORK/err" || fail "password leaked"

log "identitytoken: OAuth2 POST with grant_type=refresh_token"
printf '{"auths":{"%s":{"auth":"%s","identitytoken":"rt-bob-0123456789"}}}' "$R" \
  "$(printf '<token>:' | base64 -w0)" >"$DOCKER_CONFIG/config.json"
token_log
"$VMIMAGE" resolve "$R/priv/app:v1" >/dev/null
grep -q '"method": "POST".*"grant_type": "refresh_token".*"client_id": "vmimage".*"auth": "refresh:bob"' \
  "$WORK/tokens.log" || fail "refresh grant: $(cat "$WORK/tokens.log")"
printf '{"auths":{"%s":{"identitytoken":"rt-revoked"}}}' "$R" >"$DOCKER_CONFIG/config.json"
expect_fail "$VMIMAGE" resolve "$R/priv/app:v1"
grep -q "refused access" "$WORK/err" || fail "$(cat "$WORK/err")"
! grep -q rt-revoked "$WORK/err" || fail "refresh token leaked"

log "an expired token: the registry answers 401, the client fetches a fresh token and goes on"
stop_registry
kill "$SERVER_PID"
rm -f "$DOCKER_CONFIG/config.json"
start_tokens --expired-first 1
token_log
"$VMIMAGE" -q fetch-layers "$R/pub/app:v1" --output-dir "$WORK/out3" >/dev/null
check_layer_tars "$WORK/out3" "$WORK/image.json"
[[ $(tokens_issued) == 2 ]] || fail "expected a refreshed token: $(cat "$WORK/tokens.log")"
head -1 "$WORK/tokens.log" | grep -q '"expired": true' || fail "first token should be expired"
tail -1 "$WORK/tokens.log" | grep -q '"expired": false' || fail "second token should be fresh"
echo PASS
