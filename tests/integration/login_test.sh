#!/usr/bin/env bash
# login / logout against a docker-registry with TLS and htpasswd Basic auth:
# a wrong password is refused and changes nothing; a right one lands in
# $DOCKER_CONFIG/config.json (0600, the rest of the file kept) where pull and
# push find it; logout removes exactly that entry. No secret in any message.
source "$(dirname "$0")/lib.sh"
source "$TOOLS/registry/registry.sh"

user=carol
password='L0gin-Secret'
auth_b64=$(printf '%s:%s' "$user" "$password" | base64 -w0)
make_ca "$WORK/ca"
htpasswd -Bbn "$user" "$password" >"$WORK/htpasswd"
python3 "$TOOLS/registry/make_image.py" "$WORK/images" --tag v1 --layer gzip:1:2:20000 >/dev/null
start_registry "$WORK/reg"
push_layout "$WORK/images" v1 "127.0.0.1:$REGISTRY_PORT/private/app:v1"
stop_registry
start_registry "$WORK/reg" --tls "$WORK/ca/server.pem" "$WORK/ca/server.key" --htpasswd "$WORK/htpasswd"
R=127.0.0.1:$REGISTRY_PORT

export HOME=$WORK/home DOCKER_CONFIG=$WORK/docker
unset REGISTRY_AUTH_FILE XDG_RUNTIME_DIR SSL_CERT_FILE
mkdir -p "$HOME" "$DOCKER_CONFIG"
config=$DOCKER_CONFIG/config.json
printf '{"auths": {"other.example": {"auth": "b3RoZXI6cHc="}}, "proxies": {"default": {}}}\n' >"$config"
cp "$config" "$WORK/config.before"
vmi() { "$VMIMAGE" --cache-dir "$WORK/cache" --ca-file "$WORK/ca/ca.pem" "$@"; }
no_secrets() { ! grep -qF -e "$password" -e "$auth_b64" -e "wrong-one" "$@" || fail "a secret leaked into $*"; }

log "a wrong password is refused and the file is unchanged"
echo wrong-one | expect_fail vmi login "$R" -u "$user" --password-stdin
grep -q 'rejected the username or password' "$WORK/err" || fail "wrong password: $(cat "$WORK/err")"
cmp -s "$config" "$WORK/config.before" || fail "a failed login changed config.json"
no_secrets "$WORK/err"

log "login: checked with the registry, kept in config.json beside what was there"
expect_fail vmi resolve "$R/private/app:v1"
echo "$password" | vmi login "$R" -u "$user" --password-stdin >"$WORK/out" 2>&1 || fail "login: $(cat "$WORK/out")"
grep -q 'Login Succeeded' "$WORK/out" || fail "login printed $(cat "$WORK/out")"
no_secrets "$WORK/out"
[[ $(stat -c %a "$config") == 600 ]] || fail "config.json mode $(stat -c %a "$config")"
[[ $(json_get "$config" "d['auths']['$R']['auth']") == "$auth_b64" ]] || fail "no auths entry for $R"
[[ $(json_get "$config" "d['auths']['other.example']['auth']") == b3RoZXI6cHc= ]] || fail "another entry was lost"
[[ $(json_get "$config" "'default' in d['proxies']") == True ]] || fail "other keys were lost"

log "pull and push use the credentials"
vmi -q pull "$R/private/app:v1" >/dev/null 2>"$WORK/err" || fail "pull after login: $(cat "$WORK/err")"
vmi -q push "$R/private/app:v1" "$R/private/app:erofs" >/dev/null 2>"$WORK/err" || fail "push after login: $(cat "$WORK/err")"
no_secrets "$WORK/err"

log "logout removes exactly that entry"
vmi logout "$R" >"$WORK/out" || fail "logout"
[[ $(json_get "$config" "'$R' in d['auths']") == False ]] || fail "logout left the entry"
[[ $(json_get "$config" "d['auths']['other.example']['auth']") == b3RoZXI6cHc= ]] || fail "logout removed another entry"
expect_fail vmi resolve "$R/private/app:v1"
grep -q 'requires authentication' "$WORK/err" || fail "after logout: $(cat "$WORK/err")"
vmi logout "$R" 2>"$WORK/err2" || fail "a second logout failed"
grep -q "not logged in to $R" "$WORK/err2" || fail "second logout: $(cat "$WORK/err2")"

log "bad input: not a registry, no password"
expect_fail vmi login "$R/some/path" -u "$user" --password-stdin </dev/null
grep -q 'not a registry' "$WORK/err" || fail "a path as REGISTRY: $(cat "$WORK/err")"
expect_fail vmi login "$R" -u "$user" --password-stdin </dev/null
grep -q 'no password on stdin' "$WORK/err" || fail "empty stdin: $(cat "$WORK/err")"
