#!/usr/bin/env bash
# Bad inputs: vmimage mkfs exits non-zero, says what and where, and leaves neither
# OUTPUT nor a temporary file in the output directory; an existing OUTPUT stays as
# it was.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"

python3 "$TOOLS/make_layers.py" all "$WORK/layers"
bad="$WORK/layers/bad"

# input file | words the message must contain (| separated)
cases=(
  "truncated.tar|vmimage: tarball:|'victim'|Truncated"
  "truncated.tar.gz|gzip stream is truncated|'victim'"
  "garbage.bin|vmimage: tarball:|not a tar archive"
  "empty.bin|vmimage: tarball:|empty input"
  "escape.tar|vmimage: tarball:|'a/../../escape'|leaves the root"
  "escape-link.tar|vmimage: tarball:|'link'|'../../etc/passwd'|leaves the root"
  "hardlink-missing.tar|vmimage: tarball:|'link'|'never/there'|does not exist"
  "liar.tar|vmimage: tarball:|'liar'|Truncated"
  "bad-checksum.tar|vmimage: tarball:|after entry 'first'|Damaged"
)

check_case() {  # check_case INPUT-MODE SPEC
  local mode=$1 spec=$2
  IFS='|' read -r -a words <<<"$spec"
  local input="$bad/${words[0]}" out="$WORK/out"
  rm -rf "$out" && mkdir -p "$out"
  if [[ $mode == stdin ]]; then
    expect_fail "$VMIMAGE" mkfs - "$out/layer.erofs" <"$input"
  else
    expect_fail "$VMIMAGE" mkfs "$input" "$out/layer.erofs"
  fi
  local w
  for w in "${words[@]:1}"; do
    grep -qF -- "$w" "$WORK/err" || fail "${words[0]} ($mode): message lacks \"$w\": $(cat "$WORK/err")"
  done
  [[ -z "$(ls -A "$out")" ]] || fail "${words[0]} ($mode): left files behind: $(ls -A "$out")"
}

for spec in "${cases[@]}"; do
  log "${spec%%|*}"
  check_case file "$spec"
  check_case stdin "$spec"
done

# An existing OUTPUT is not touched by a failed run.
mkdir -p "$WORK/keep"
echo "previous image" >"$WORK/keep/layer.erofs"
expect_fail "$VMIMAGE" mkfs "$bad/truncated.tar" "$WORK/keep/layer.erofs"
[[ "$(cat "$WORK/keep/layer.erofs")" == "previous image" ]] || fail "existing OUTPUT was modified"
[[ $(ls -A "$WORK/keep" | wc -l) -eq 1 ]] || fail "temporary file left: $(ls -A "$WORK/keep")"

# Usage errors and unknown filesystem types.
good="$WORK/layers/single/empty.tar"
expect_fail "$VMIMAGE" mkfs --type ext5 "$good" "$WORK/x.img"
grep -q 'vmimage: layer fs: unsupported filesystem type' "$WORK/err" || fail "type: $(cat "$WORK/err")"
expect_fail "$VMIMAGE" mkfs --uuid not-a-uuid "$good" "$WORK/x.img"
grep -q 'invalid UUID' "$WORK/err" || fail "uuid: $(cat "$WORK/err")"
expect_fail "$VMIMAGE" mkfs --mtime yesterday "$good" "$WORK/x.img"
grep -q -- '--mtime' "$WORK/err" || fail "mtime: $(cat "$WORK/err")"
expect_fail "$VMIMAGE" mkfs --block-size 1000 "$good" "$WORK/x.img"
expect_fail "$VMIMAGE" mkfs --lower "$WORK/missing.erofs" "$good" "$WORK/x.img"
grep -q 'missing.erofs' "$WORK/err" || fail "lower: $(cat "$WORK/err")"
[[ ! -e "$WORK/x.img" ]] || fail "x.img left behind"
log "ok"
