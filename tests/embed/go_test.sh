#!/usr/bin/env bash
# The Go package (bindings/go/vmimage, cgo over the C ABI) against the shared
# library of this build (through vmimage-uninstalled.pc) and a local
# docker-registry: `go vet`, then `go test` (pull, import, tag, list, remove,
# gc, a cancellation mid-pull through a stalling proxy), then the example
# program written against the model's API, built and run.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
source "$TOOLS/registry/registry.sh"
: "${VMIMAGE_BUILD_DIR:?}" "${VMIMAGE_LIB_DIR:?}"
command -v go >/dev/null || skip "go is not installed (scripts/install-deps installs golang-go)"
[[ -f $VMIMAGE_BUILD_DIR/vmimage-uninstalled.pc ]] || fail "no vmimage-uninstalled.pc in the build"

python3 "$TOOLS/registry/make_image.py" "$WORK/images" --tag v1 --user 1000:1000 --env MODE=test \
  --layer gzip:11:3:20000 --layer zstd:12:2:5000 >"$WORK/app.json"
python3 "$TOOLS/registry/make_image.py" "$WORK/images" --tag slow \
  --layer gzip:13:2:300000 --layer gzip:14:2:300000 >"$WORK/slow.json"
start_registry "$WORK/reg"
R=127.0.0.1:$REGISTRY_PORT
push_layout "$WORK/images" v1 "$R/test/app:v1"
push_layout "$WORK/images" slow "$R/test/slow:v1"
skopeo copy -q "oci:$WORK/images:v1" "oci-archive:$WORK/app.tar" >/dev/null
stalled=$(json_get "$WORK/slow.json" 'd["layers"][1]["digest"]')
start_python_server proxy fault_proxy.py --upstream "$R" --log "$WORK/proxy.log" --lifetime 300 \
  --rules '[{"path":"/blobs/'"$stalled"'","action":"stall","after":100000,"seconds":120}]'

export VMIMAGE_TEST_IMAGE=$R/test/app:v1
export VMIMAGE_TEST_DIGEST=$(json_get "$WORK/app.json" 'd["digest"]')
export VMIMAGE_TEST_ARCHIVE=$WORK/app.tar
export VMIMAGE_TEST_STALLED_IMAGE=127.0.0.1:$SERVER_PORT/test/slow:v1
# Standard library only, nothing fetched; the build cache outlives the test.
export GOFLAGS=-mod=mod GOPROXY=off GO111MODULE=on CGO_ENABLED=1
export GOCACHE=$VMIMAGE_BUILD_DIR/go/cache GOPATH=$VMIMAGE_BUILD_DIR/go/path
export PKG_CONFIG_PATH=$VMIMAGE_BUILD_DIR LD_LIBRARY_PATH=$VMIMAGE_LIB_DIR
cd "$VMIMAGE_SOURCE_DIR/bindings/go/vmimage"

log "go vet"
go vet ./... || fail "go vet"
log "go test"
# $VMIMAGE_GO_TEST_FLAGS: e.g. -race.
go test -v -count=1 ${VMIMAGE_GO_TEST_FLAGS:-} ./... 2>&1 | tee "$WORK/go-test.log"
[[ ${PIPESTATUS[0]} == 0 ]] || fail "go test"
! grep -q -- '--- SKIP' "$WORK/go-test.log" || fail "a Go test skipped"
grep -q -- '--- PASS: TestCancelMidPull' "$WORK/go-test.log" || fail "the cancellation test did not run"
# The library it ran was this build's.
grep -q vmimage <<<"$(go list -f '{{.CgoPkgConfig}}' .)" || fail "the package does not use pkg-config"

log "the model's program, built and run"
go build -o "$WORK/example" ./example || fail "the model's program does not compile"
"$WORK/example" -cache "$WORK/example-store" "$VMIMAGE_TEST_IMAGE" "$WORK/app.tar" >"$WORK/example.log" 2>&1 ||
  fail "example: $(cat "$WORK/example.log")"
cat "$WORK/example.log" >&2
grep -q "^example:v1 tag $VMIMAGE_TEST_DIGEST" "$WORK/example.log" || fail "example's listing"
grep -q "^imported:v1 import " "$WORK/example.log" || fail "example's import"
[[ -z $(ls -A "$WORK/example-store/blobs") ]] || fail "example left blobs"
echo PASS
