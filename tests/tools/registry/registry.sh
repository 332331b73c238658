# Helpers for tests that need registries (source after tests/integration/lib.sh,
# which provides on_exit, fail and $WORK). Every server started here is killed
# by the EXIT trap. Set REGISTRY_DEBUG=1 to keep the servers' logs verbose.
REGISTRY_TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

for tool in docker-registry skopeo openssl htpasswd python3 zstd; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/install-deps installs it)"
done

# free_port: prints a TCP port that was free a moment ago.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT [SECONDS]: waits until something listens on 127.0.0.1:PORT.
wait_port() {
  local port=$1 deadline=$((SECONDS + ${2:-15}))
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}

# start_registry DIR [--tls CERT KEY] [--htpasswd FILE] [--token REALM SERVICE ISSUER BUNDLE]
# Starts docker-registry with filesystem storage in DIR/storage (shared by every
# registry started on the same DIR) on a free loopback port. Sets REGISTRY_PORT
# and REGISTRY_PID.
start_registry() {
  local dir=$1
  shift
  local tls="" auth=""
  while (($#)); do
    case $1 in
      --tls) tls="  tls:
    certificate: $2
    key: $3"; shift 3 ;;
      --htpasswd) auth="auth:
  htpasswd:
    realm: vmimage-test
    path: $2"; shift 2 ;;
      --token) auth="auth:
  token:
    realm: $2
    service: $3
    issuer: $4
    rootcertbundle: $5"; shift 5 ;;
      *) fail "start_registry: unknown option $1" ;;
    esac
  done
  mkdir -p "$dir/storage"
  local attempt
  for attempt in 1 2 3; do
    REGISTRY_PORT=$(free_port)
    cat >"$dir/config.yml" <<CONFIG
version: 0.1
log:
  level: ${REGISTRY_DEBUG:+debug}${REGISTRY_DEBUG:-error}
  accesslog:
    disabled: ${REGISTRY_DEBUG:+false}${REGISTRY_DEBUG:-true}
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REGISTRY_PORT
  secret: vmimage-test-secret
$tls
$auth
CONFIG
    docker-registry serve "$dir/config.yml" >>"$dir/registry.log" 2>&1 &
    REGISTRY_PID=$!
    on_exit "kill $REGISTRY_PID 2>/dev/null; wait $REGISTRY_PID 2>/dev/null"
    if wait_port "$REGISTRY_PORT" 10 && kill -0 "$REGISTRY_PID" 2>/dev/null; then return 0; fi
    kill "$REGISTRY_PID" 2>/dev/null || true
  done
  cat "$dir/registry.log" >&2
  fail "docker-registry did not start"
}

# stop_registry: stops the registry started last (its trap entry stays harmless).
stop_registry() {
  kill "$REGISTRY_PID" 2>/dev/null || true
  wait "$REGISTRY_PID" 2>/dev/null || true
}

# push_layout LAYOUT TAG HOST:PORT/NAME:TAG [skopeo options...]: copies a tag
# of an OCI layout (all platforms of an index) to a registry over plain HTTP,
# keeping digests.
push_layout() {
  local layout=$1 tag=$2 dest=$3
  shift 3
  skopeo --insecure-policy copy -q --all --preserve-digests --dest-tls-verify=false "$@" \
    "oci:$layout:$tag" "docker://$dest" >&2
}

# push_dir DIR HOST:PORT/NAME:TAG [skopeo options...]: copies a skopeo dir:
# image (make_image.py --docker) to a registry over plain HTTP.
push_dir() {
  local dir=$1 dest=$2
  shift 2
  skopeo --insecure-policy copy -q --preserve-digests --dest-tls-verify=false "$@" \
    "dir:$dir" "docker://$dest" >&2
}

# make_ca DIR: a CA (DIR/ca.pem) and a server certificate for 127.0.0.1 and
# localhost signed by it (DIR/server.pem, DIR/server.key).
make_ca() {
  local dir=$1
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=vmimage test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$dir/ext.cnf"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 2 -extfile "$dir/ext.cnf" -out "$dir/server.pem" 2>/dev/null
}

# start_python_server NAME SCRIPT ARGS...: runs a tests/tools/registry server
# that writes its port to a file; sets SERVER_PORT and SERVER_PID.
start_python_server() {
  local name=$1 script=$2
  shift 2
  local port_file="$WORK/$name.port"
  rm -f "$port_file"
  python3 "$REGISTRY_TOOLS/$script" --port-file "$port_file" "$@" >>"$WORK/$name.log" 2>&1 &
  SERVER_PID=$!
  on_exit "kill $SERVER_PID 2>/dev/null; wait $SERVER_PID 2>/dev/null"
  local deadline=$((SECONDS + 10))
  while [[ ! -s "$port_file" ]]; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null || ((SECONDS >= deadline)); then
      cat "$WORK/$name.log" >&2
      fail "$script did not start"
    fi
    sleep 0.05
  done
  SERVER_PORT=$(cat "$port_file")
}

# json_get FILE EXPR: evaluates a Python expression over the JSON document d,
# e.g. json_get out.json 'd["layers"][0]["digest"]'. Lists print one item a line.
json_get() {
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print("\n".join(map(str, v)) if isinstance(v, list) else v)' "$1" "$2"
}

# check_layer_tars DIR SUMMARY.json: every DIR/<i>.tar hashes to the i-th
# diff_id of the image summary that make_image.py or vmimage printed.
check_layer_tars() {
  local dir=$1 summary=$2 i=0 diff_id
  for diff_id in $(json_get "$summary" '[l["diff_id"] for l in d["layers"]]'); do
    [[ -f "$dir/$i.tar" ]] || fail "layer $i was not written"
    [[ "sha256:$(sha256sum <"$dir/$i.tar" | cut -d' ' -f1)" == "$diff_id" ]] ||
      fail "layer $i tar does not hash to its DiffID $diff_id"
    i=$((i + 1))
  done
  ((i > 0)) || fail "no layers in $summary"
}
