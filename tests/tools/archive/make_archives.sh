#!/usr/bin/env bash
# Builds image archives from scratch for import tests: an image made with umoci
# (3 layers: files, a whiteout, a 5 MiB file), exported by skopeo as
# docker-archive, oci-archive (gzip, zstd, plain) and an OCI directory, plus the
# layouts archive_tool.py writes (Docker 25+, several images, multi-platform)
# and broken copies. Usage: make_archives.sh OUTDIR   (see README.md)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: make_archives.sh OUTDIR}
for tool in umoci skopeo python3 gzip zstd; do
  command -v "$tool" >/dev/null || { echo "make_archives.sh: $tool not found (scripts/install-deps installs it)" >&2; exit 2; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT

run() {
  "$@" >"$work/log" 2>&1 || { cat "$work/log" >&2; echo "make_archives.sh: failed: $*" >&2; exit 1; }
}
tool() { run python3 "$here/archive_tool.py" "$@"; }

L="$work/layout"
NAME=example.com/test/app

# --- the image: base (layer 1), app = base + whiteout (2) + big file (3) ---
run umoci init --layout "$L"
run umoci new --image "$L:base"
run umoci unpack --rootless --image "$L:base" "$work/b1"
r="$work/b1/rootfs"
mkdir -p "$r/etc" "$r/data" "$r/opq/sub" "$r/usr/bin"
printf 'NAME=vmimage-test\n' >"$r/etc/os-release"
printf '#!/bin/sh\necho hello\n' >"$r/usr/bin/hello" && chmod 755 "$r/usr/bin/hello"
echo keep >"$r/data/keep"
echo gone >"$r/data/remove-me"
echo old >"$r/opq/sub/old"
ln -s ../etc/os-release "$r/data/link"
run umoci repack --image "$L:base" "$work/b1"
run umoci config --image "$L:base" --os linux --architecture amd64 --config.cmd /usr/bin/hello

run umoci unpack --rootless --image "$L:base" "$work/b2"
r="$work/b2/rootfs"
rm "$r/data/remove-me"
echo new >"$r/data/new"
rm -r "$r/opq/sub"
echo fresh >"$r/opq/fresh"
run umoci repack --image "$L:app" "$work/b2"  # a new tag on top of base

run umoci unpack --rootless --image "$L:app" "$work/b3"
head -c $((5 << 20)) /dev/urandom >"$work/b3/rootfs/data/big.bin"
run umoci repack --image "$L:app" "$work/b3"
run umoci config --image "$L:app" --tag app-arm64 --architecture arm64

# --- exports by skopeo ---
run skopeo copy oci:"$L:app" docker-archive:"$out/docker-archive.tar:$NAME:v1" \
  --additional-tag "$NAME:latest"
run skopeo copy oci:"$L:base" docker-archive:"$work/base.tar:example.com/test/base:v1"
run skopeo copy oci:"$L:app" oci-archive:"$out/oci-archive-gzip.tar:$NAME:v1"
run skopeo copy --dest-compress-format zstd oci:"$L:app" oci-archive:"$out/oci-archive-zstd.tar:$NAME:v1"
run skopeo copy --dest-oci-accept-uncompressed-layers docker-archive:"$out/docker-archive.tar" \
  oci-archive:"$out/oci-archive-plain.tar:$NAME:v1"
rm -rf "$out/oci-dir"
run skopeo copy oci:"$L:app" oci:"$out/oci-dir:$NAME:v1"

# --- layouts the tools do not write ---
tool docker25 "$L" app "$NAME:v1" "$out/docker25.tar"
tool merge-docker "$out/docker-multi.tar" "$out/docker-archive.tar" "$work/base.tar"
tool multi-platform "$L" example.com/test/multi:v1 "$out/oci-multi-platform.tar" app app-arm64
gzip -c "$out/docker-archive.tar" >"$out/docker-archive.tar.gz"
zstd -q -f -c "$out/oci-archive-gzip.tar" >"$out/oci-archive-gzip.tar.zst"

# --- broken copies ---
for kind in no-manifest null-manifest empty-manifest missing-layer missing-config diffid-mismatch truncated not-tar; do
  tool bad "$kind" "$out/docker-archive.tar" "$out/bad-$kind.tar"
done
tool bad blob-digest-mismatch "$out/oci-archive-gzip.tar" "$out/bad-blob-digest-mismatch.tar"
echo "make_archives.sh: wrote $(ls "$out" | wc -l) archives to $out" >&2
