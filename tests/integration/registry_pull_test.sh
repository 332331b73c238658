#!/usr/bin/env bash
# Anonymous pull over plain HTTP from a real docker-registry on loopback: by tag
# and by digest; gzip, zstd and uncompressed layers whose tars match their
# DiffIDs; Docker schema 2 media types; a multi-platform index chosen by platform.
source "$(dirname "$0")/lib.sh"
source "$TOOLS/registry/registry.sh"

images=$WORK/images
python3 "$TOOLS/registry/make_image.py" "$images" --tag mixed --tars "$WORK/tars" \
  --layer gzip:1:3:200000 --layer zstd:2:2:100000 --layer none:3:4:3000 --layer gzip:4:0:0 \
  --user 1000:1000 --workdir /srv --entrypoint '["/bin/app","--serve"]' --cmd '["-v"]' \
  --env PATH=/usr/bin --env MODE=test >"$WORK/mixed.json"
python3 "$TOOLS/registry/make_image.py" "$WORK/docker-image" --tag docker --docker \
  --layer gzip:5:2:4000 >"$WORK/docker.json"
python3 "$TOOLS/registry/make_image.py" "$images" --tag multi \
  --platforms linux/amd64,linux/arm64/v8 --layer gzip:6:1:1000 >"$WORK/multi.json"

start_registry "$WORK/reg"
R=127.0.0.1:$REGISTRY_PORT
push_layout "$images" mixed "$R/test/mixed:v1"
push_dir "$WORK/docker-image" "$R/test/docker:v1"
push_layout "$images" multi "$R/test/multi:latest"

log "resolve by tag"
"$VMIMAGE" resolve "$R/test/mixed:v1" >"$WORK/r1.json"
digest=$(json_get "$WORK/mixed.json" 'd["digest"]')
[[ $(json_get "$WORK/r1.json" 'd["digest"]') == "$digest" ]] || fail "wrong manifest digest"
[[ $(json_get "$WORK/r1.json" 'd["reference"]') == "$R/test/mixed:v1" ]] || fail "reference"
[[ $(json_get "$WORK/r1.json" 'd["platform"]') == linux/amd64 ]] || fail "platform"
for field in digest diff_id size; do
  [[ $(json_get "$WORK/r1.json" "[l['$field'] for l in d['layers']]") == \
     $(json_get "$WORK/mixed.json" "[l['$field'] for l in d['layers']]") ]] || fail "layer ${field}s differ"
done
[[ $(json_get "$WORK/r1.json" '[l["media_type"].split(".")[-1] for l in d["layers"]]' | tr '\n' ' ') == \
   "tar+gzip tar+zstd tar tar+gzip " ]] || fail "layer media types"
[[ $(json_get "$WORK/r1.json" 'd["config"]["User"]') == 1000:1000 ]] || fail "User"
[[ $(json_get "$WORK/r1.json" 'd["config"]["WorkingDir"]') == /srv ]] || fail "WorkingDir"
[[ $(json_get "$WORK/r1.json" '" ".join(d["config"]["Entrypoint"] + d["config"]["Cmd"])') == \
   "/bin/app --serve -v" ]] || fail "Entrypoint/Cmd"
[[ $(json_get "$WORK/r1.json" '",".join(d["config"]["Env"])') == "PATH=/usr/bin,MODE=test" ]] || fail "Env"
[[ $(json_get "$WORK/r1.json" 'd["config"]["ExposedPorts"][0]') == 8080/tcp ]] || fail "ExposedPorts"
[[ $(json_get "$WORK/r1.json" 'd["config"]["digest"]') == $(json_get "$WORK/mixed.json" 'd["config"]') ]] ||
  fail "config digest"

log "fetch every layer by digest, in parallel; each tar matches its DiffID and the original"
"$VMIMAGE" -q fetch-layers "$R/test/mixed@$digest" --output-dir "$WORK/out" --jobs 3 >"$WORK/f1.json"
check_layer_tars "$WORK/out" "$WORK/mixed.json"
for i in 0 1 2; do
  cmp "$WORK/out/$i.tar" "$WORK/tars/$(json_get "$WORK/mixed.json" "d['layers'][$i]['diff_id'][7:]").tar" ||
    fail "layer $i differs from the tar it was built from"
done
"$VMIMAGE" -q fetch-layers "$R/test/mixed:v1@$digest" --output-dir "$WORK/out1" --jobs 1 --layer 1 >/dev/null
[[ -f "$WORK/out1/1.tar" && ! -e "$WORK/out1/0.tar" ]] || fail "--layer 1"

log "Docker schema 2 media types"
"$VMIMAGE" resolve "$R/test/docker:v1" >"$WORK/r2.json"
[[ $(json_get "$WORK/r2.json" 'd["media_type"]') == application/vnd.docker.distribution.manifest.v2+json ]] ||
  fail "docker manifest media type"
"$VMIMAGE" -q fetch-layers "$R/test/docker:v1" --output-dir "$WORK/out2" >/dev/null
check_layer_tars "$WORK/out2" "$WORK/docker.json"

log "multi-platform index: the host's platform by default, --platform, and no match"
case $(uname -m) in
  x86_64) host=linux/amd64 ;;
  aarch64) host=linux/arm64/v8 ;;
  *) host="" ;;
esac
index_digest=$(json_get "$WORK/multi.json" 'd["tag_digest"]')
if [[ -n $host ]]; then
  "$VMIMAGE" resolve "$R/test/multi" >"$WORK/r3.json"
  [[ $(json_get "$WORK/r3.json" 'd["platform"]') == "$host" ]] || fail "default platform"
  [[ $(json_get "$WORK/r3.json" 'd["digest"]') == \
     $(json_get "$WORK/multi.json" "[m['digest'] for m in d['manifests'] if m['platform'] == '$host'][0]") ]] ||
    fail "default platform picked the wrong manifest"
  [[ $(json_get "$WORK/r3.json" 'd["index_digest"]') == "$index_digest" ]] || fail "index digest"
fi
"$VMIMAGE" resolve --platform linux/arm64 "$R/test/multi@$index_digest" >"$WORK/r4.json"
[[ $(json_get "$WORK/r4.json" 'd["platform"]') == linux/arm64/v8 ]] || fail "arm64 platform"
[[ $(json_get "$WORK/r4.json" 'd["digest"]') == $(json_get "$WORK/multi.json" 'd["manifests"][1]["digest"]') ]] ||
  fail "--platform linux/arm64 picked the wrong manifest"
"$VMIMAGE" -q fetch-layers --platform linux/arm64/v8 "$R/test/multi" --output-dir "$WORK/out4" >/dev/null
tar -xOf "$WORK/out4/1.tar" etc/platform | grep -qx linux/arm64/v8 || fail "arm64 marker layer"
expect_fail "$VMIMAGE" resolve --platform linux/s390x "$R/test/multi"
grep -q "no image for platform linux/s390x" "$WORK/err" || fail "no-match message: $(cat "$WORK/err")"
grep -q "it has: linux/amd64, linux/arm64/v8" "$WORK/err" || fail "no platform list: $(cat "$WORK/err")"
expect_fail "$VMIMAGE" resolve --platform linux/arm64 "$R/test/mixed:v1"
grep -q "for linux/amd64 only" "$WORK/err" || fail "single-platform mismatch: $(cat "$WORK/err")"

log "errors: bad reference, unknown tag, unknown digest"
expect_fail "$VMIMAGE" resolve "$R/Test/Mixed:v1"
grep -q "parse reference: .*must be lowercase" "$WORK/err" || fail "$(cat "$WORK/err")"
expect_fail "$VMIMAGE" resolve "$R/test/mixed:nope"
grep -q "image not found: manifest $R/test/mixed:nope not found" "$WORK/err" || fail "$(cat "$WORK/err")"
other=$(json_get "$WORK/docker.json" 'd["digest"]')
expect_fail "$VMIMAGE" resolve "$R/test/mixed@$other"
grep -q "not found" "$WORK/err" || fail "$(cat "$WORK/err")"
log "plain HTTP only for loopback and --insecure-registry hosts"
ip=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9.]+$' | grep -v '^127\.' | head -1 || true)
if [[ -n $ip ]]; then
  port=$(free_port)
  python3 -m http.server "$port" --bind "$ip" --directory "$WORK/tars" >/dev/null 2>&1 &
  on_exit "kill $! 2>/dev/null"
  wait_port_on() { local d=$((SECONDS + 10)); until (exec 3<>"/dev/tcp/$ip/$port") 2>/dev/null; do
    ((SECONDS < d)) || fail "http.server did not start"; sleep 0.05; done; }
  wait_port_on
  expect_fail "$VMIMAGE" resolve "$ip:$port/test/app:v1"
  grep -qiE "ssl|tls" "$WORK/err" || fail "expected a TLS error for $ip: $(cat "$WORK/err")"
  expect_fail "$VMIMAGE" --insecure-registry "$ip:$port" resolve "$ip:$port/test/app:v1"
  grep -q "image not found: manifest $ip:$port/test/app:v1 not found" "$WORK/err" ||
    fail "expected plain HTTP with --insecure-registry: $(cat "$WORK/err")"
  VMIMAGE_INSECURE_REGISTRIES="other.host,$ip:$port" expect_fail "$VMIMAGE" resolve "$ip:$port/test/app:v1"
  grep -q "image not found" "$WORK/err" || fail "VMIMAGE_INSECURE_REGISTRIES: $(cat "$WORK/err")"
else
  log "(no non-loopback address: plain-HTTP refusal not checked)"
fi
echo PASS
