#!/usr/bin/env bash
# A docker-registry with htpasswd Basic auth over TLS with a self-signed CA:
# the CA comes from --ca-file or $SSL_CERT_FILE; credentials from config.json
# in $DOCKER_CONFIG (auths, credHelpers, credsStore with a helper script on
# PATH), $REGISTRY_AUTH_FILE and $XDG_RUNTIME_DIR/containers/auth.json.
# Secrets must not appear in any message.
source "$(dirname "$0")/lib.sh"
source "$TOOLS/registry/registry.sh"

user=alice
password='s3cret-Pa55word'
auth_b64=$(printf '%s:%s' "$user" "$password" | base64 -w0)
bad_b64=$(printf '%s:%s' "$user" "wrong-Pa55word" | base64 -w0)

python3 "$TOOLS/registry/make_image.py" "$WORK/images" --tag v1 \
  --layer gzip:1:2:50000 --layer zstd:2:1:20000 >"$WORK/image.json"
make_ca "$WORK/ca"
htpasswd -Bbn "$user" "$password" >"$WORK/htpasswd"

# Push through an open registry, then serve the same storage with TLS and auth.
start_registry "$WORK/reg"
push_layout "$WORK/images" v1 "127.0.0.1:$REGISTRY_PORT/private/app:v1"
stop_registry
start_registry "$WORK/reg" --tls "$WORK/ca/server.pem" "$WORK/ca/server.key" --htpasswd "$WORK/htpasswd"
R=127.0.0.1:$REGISTRY_PORT
ref=$R/private/app:v1

# No ambient credentials or CAs.
export HOME=$WORK/home DOCKER_CONFIG=$WORK/docker
unset REGISTRY_AUTH_FILE XDG_RUNTIME_DIR SSL_CERT_FILE
mkdir -p "$HOME" "$DOCKER_CONFIG" "$WORK/bin"

no_secrets() {
  ! grep -qF -e "$password" -e "$auth_b64" -e "$bad_b64" "$@" || fail "a secret leaked into $*"
}

log "TLS is verified on loopback too: the self-signed CA is unknown without --ca-file"
expect_fail "$VMIMAGE" resolve "$ref"
grep -qi "certificate" "$WORK/err" || fail "expected a certificate error: $(cat "$WORK/err")"

log "--insecure-registry skips certificate checks (the registry still wants credentials)"
expect_fail "$VMIMAGE" --insecure-registry "$R" resolve "$ref"
grep -q "requires authentication" "$WORK/err" || fail "$(cat "$WORK/err")"

log "with the CA but no credentials: a clear authentication error"
expect_fail "$VMIMAGE" --ca-file "$WORK/ca/pem-missing" resolve "$ref"
grep -q "CA file" "$WORK/err" || fail "$(cat "$WORK/err")"
expect_fail "$VMIMAGE" --ca-file "$WORK/ca/ca.pem" resolve "$ref"
grep -q "requires authentication (Basic) and no credentials found for $R" "$WORK/err" ||
  fail "$(cat "$WORK/err")"

log "config.json auths"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$R" "$auth_b64" >"$DOCKER_CONFIG/config.json"
"$VMIMAGE" --ca-file "$WORK/ca/ca.pem" resolve "$ref" >"$WORK/r.json"
[[ $(json_get "$WORK/r.json" 'd["digest"]') == $(json_get "$WORK/image.json" 'd["digest"]') ]] ||
  fail "wrong digest"
"$VMIMAGE" -q --ca-file "$WORK/ca/ca.pem" fetch-layers "$ref" --output-dir "$WORK/out1" >/dev/null
check_layer_tars "$WORK/out1" "$WORK/image.json"

log "SSL_CERT_FILE instead of --ca-file; URL-form keys"
printf '{"auths":{"https://%s/v2/":{"auth":"%s"}}}' "$R" "$auth_b64" >"$DOCKER_CONFIG/config.json"
SSL_CERT_FILE=$WORK/ca/ca.pem "$VMIMAGE" resolve "$ref" >/dev/null

log "wrong password: rejected, named by source, never quoted"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$R" "$bad_b64" >"$DOCKER_CONFIG/config.json"
expect_fail "$VMIMAGE" --ca-file "$WORK/ca/ca.pem" resolve "$ref"
grep -q "rejected the credentials for $R from $DOCKER_CONFIG/config.json" "$WORK/err" ||
  fail "$(cat "$WORK/err")"
no_secrets "$WORK/err"
expect_fail "$VMIMAGE" -q --ca-file "$WORK/ca/ca.pem" fetch-layers "$ref" --output-dir "$WORK/outbad"
no_secrets "$WORK/err"

log "credHelpers and credsStore: docker-credential-test on PATH"
cat >"$WORK/bin/docker-credential-test" <<HELPER
#!/bin/sh
[ "\$1" = get ] || exit 2
read -r server
echo "\$server" >>"$WORK/helper-calls"
if [ "\$server" = "$R" ]; then
  printf '{"ServerURL":"%s","Username":"%s","Secret":"%s"}\n' "\$server" "$user" "$password"
else
  echo "credentials not found in native keychain"
  exit 1
fi
HELPER
chmod +x "$WORK/bin/docker-credential-test"
printf '{"credHelpers":{"%s":"test"},"auths":{"%s":{"auth":"%s"}}}' "$R" "$R" "$bad_b64" \
  >"$DOCKER_CONFIG/config.json"
PATH=$WORK/bin:$PATH "$VMIMAGE" -q --ca-file "$WORK/ca/ca.pem" fetch-layers "$ref" \
  --output-dir "$WORK/out2" >/dev/null
check_layer_tars "$WORK/out2" "$WORK/image.json"
[[ $(sort -u "$WORK/helper-calls") == "$R" ]] || fail "helper asked about: $(cat "$WORK/helper-calls")"
printf '{"credsStore":"test"}' >"$DOCKER_CONFIG/config.json"
PATH=$WORK/bin:$PATH "$VMIMAGE" --ca-file "$WORK/ca/ca.pem" resolve "$ref" >/dev/null
printf '{"credHelpers":{"%s":"absent"}}' "$R" >"$DOCKER_CONFIG/config.json"
expect_fail "$VMIMAGE" --ca-file "$WORK/ca/ca.pem" resolve "$ref"
grep -q "docker-credential-absent" "$WORK/err" || fail "$(cat "$WORK/err")"

log "REGISTRY_AUTH_FILE and XDG_RUNTIME_DIR/containers/auth.json (per-repository keys)"
rm "$DOCKER_CONFIG/config.json"
printf '{"auths":{"%s/private":{"auth":"%s"},"%s":{"auth":"%s"}}}' "$R" "$auth_b64" "$R" "$bad_b64" \
  >"$WORK/auth.json"
REGISTRY_AUTH_FILE=$WORK/auth.json "$VMIMAGE" --ca-file "$WORK/ca/ca.pem" resolve "$ref" >/dev/null
mkdir -p "$WORK/run/containers"
printf '{"auths":{"%s":{"auth":"%s"}}}' "$R" "$auth_b64" >"$WORK/run/containers/auth.json"
XDG_RUNTIME_DIR=$WORK/run "$VMIMAGE" --ca-file "$WORK/ca/ca.pem" resolve "$ref" >/dev/null

log "localhost works with the same certificate (SAN DNS:localhost)"
# Credentials are keyed by 127.0.0.1: the error must be about them, not about TLS.
expect_fail "$VMIMAGE" --ca-file "$WORK/ca/ca.pem" resolve "localhost:$REGISTRY_PORT/private/app:v1"
grep -q "no credentials found for localhost:$REGISTRY_PORT" "$WORK/err" || fail "$(cat "$WORK/err")"
echo PASS
