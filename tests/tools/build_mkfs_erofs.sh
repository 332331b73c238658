#!/usr/bin/env bash
# Builds mkfs.erofs of erofs-utils 1.8.6 (the peer with --tar of issue 7) from
# Debian trixie's source package: bookworm's erofs-utils 1.5 has no --tar, and
# trixie's binary package needs glibc 2.38. The source is verified along the
# archive's chain of trust before anything of it runs:
#   dists/trixie/InRelease   gpgv with debian-archive-keyring.gpg
#   main/source/Sources.xz   its sha256 in the verified Release (fetched by hash)
#   erofs-utils_*.dsc        its sha256 in the erofs-utils stanza of Sources
#   orig and debian tarballs their sha256 in the .dsc
# Only mkfs.erofs is built, configured as Debian's rules do where it matters
# here (--enable-multithreading, zlib for --ungzip, libuuid) and without the
# compressors, selinux and fuse (the bench writes uncompressed images).
#
# Usage: build_mkfs_erofs.sh DIR
#   MIRROR: the Debian mirror (default: the URI of the machine's apt source for
#   its own suite; the mirror must also carry trixie).
# Installs DIR/bin/mkfs.erofs, keeps DIR/source.txt (what was verified) and
# DIR/build.log and, last, writes DIR/complete (the sha256 of this script and
# apt_mirror.sh),
# which bench/run compares before reusing DIR. Needs the tools checked below
# (scripts/install-deps) and the network to the mirror.
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
for t in curl gpgv xz dpkg-source autoreconf automake libtoolize make gcc pkg-config sha256sum; do
  command -v "$t" >/dev/null || { echo "$t missing (scripts/install-deps)" >&2; exit 1; }
done
for p in uuid zlib; do
  pkg-config --exists "$p" || { echo "$p headers missing (scripts/install-deps: uuid-dev zlib1g-dev)" >&2; exit 1; }
done
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -f $KEYRING ]] || { echo "$KEYRING missing (package debian-archive-keyring)" >&2; exit 1; }
tools=$(cd "$(dirname "$0")" && pwd)
D=$1
SOURCE_SUITE=trixie
PACKAGE=erofs-utils
VERSION=1.8.6-1
SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")

source "$tools/apt_mirror.sh"
mirror=${MIRROR:-$(apt_mirror "$SUITE" | head -n 1)}
[[ -n $mirror ]] || { echo "no apt source for '$SUITE' in /etc/apt (set MIRROR)" >&2; exit 1; }
mirror=${mirror%/}

# fetch URL OUT: downloads URL into OUT, or says which URL failed.
fetch() {
  curl -fsS --retry 2 -o "$2" "$1" ||
    { echo "downloading $1 failed (is $mirror reachable, and does it carry $SOURCE_SUITE?)" >&2; exit 1; }
}

# check_sha256 FILE SHA256 SIZE: FILE must have exactly this hash and size.
check_sha256() {
  local got size
  got=$(sha256sum "$1" | cut -d' ' -f1)
  size=$(stat -c %s "$1")
  [[ $got == "$2" && $size == "$3" ]] ||
    { echo "$1: sha256 $got ($size bytes), expected $2 ($3 bytes)" >&2; exit 1; }
}

# checksums FIELD NAME FILE: "SHA256 SIZE" of NAME in the FIELD list (lines
# " sha256 size name") of FILE, a Sources stanza or a .dsc.
checksums() {
  awk -v field="$1:" -v name="$2" '
    $1 == field { in_f = 1; next } /^[^ ]/ { in_f = 0 }
    in_f && $3 == name { print $1, $2; exit }' "$3"
}

rm -rf --one-file-system "$D"
mkdir -p "$D/src"
S=$D/src
echo "--- $PACKAGE $VERSION from $mirror/dists/$SOURCE_SUITE" >&2
fetch "$mirror/dists/$SOURCE_SUITE/InRelease" "$S/InRelease"
# Only the verified text (gpgv's output) is read from here on.
gpgv --keyring "$KEYRING" --output "$S/Release" "$S/InRelease" 2>"$S/gpgv.log" ||
  { cat "$S/gpgv.log" >&2; echo "InRelease of $SOURCE_SUITE: bad or unknown signature" >&2; exit 1; }
grep -qx "Codename: $SOURCE_SUITE" "$S/Release" ||
  { echo "the signed Release is not $SOURCE_SUITE's" >&2; exit 1; }
read -r sources_sha sources_size < <(awk '
  /^SHA256:/ { in_f = 1; next } /^[^ ]/ { in_f = 0 }
  in_f && $3 == "main/source/Sources.xz" { print $1, $2; exit }' "$S/Release") ||
  { echo "no main/source/Sources.xz in $SOURCE_SUITE's Release" >&2; exit 1; }
# By hash: the file the signed Release names, even if the mirror updates meanwhile.
fetch "$mirror/dists/$SOURCE_SUITE/main/source/by-hash/SHA256/$sources_sha" "$S/Sources.xz"
check_sha256 "$S/Sources.xz" "$sources_sha" "$sources_size"
# awk reads to the end: an early exit would kill xz with SIGPIPE (pipefail).
xz -dc "$S/Sources.xz" | awk -v p="$PACKAGE" -v v="$VERSION" '
  done { next }
  /^Package: / { keep = ($2 == p) } keep { stanza = stanza $0 "\n" }
  /^$/ { if (keep && stanza ~ ("\nVersion: " v "\n")) { printf "%s", stanza; done = 1 } stanza = "" }' \
  >"$S/stanza" || { echo "reading $SOURCE_SUITE's Sources.xz failed" >&2; exit 1; }
rm "$S/Sources.xz"
[[ -s $S/stanza ]] || { echo "no $PACKAGE $VERSION in $SOURCE_SUITE's Sources (update VERSION)" >&2; exit 1; }
dir=$(awk '/^Directory: / { print $2; exit }' "$S/stanza")
dsc=${PACKAGE}_$VERSION.dsc
read -r dsc_sha dsc_size < <(checksums Checksums-Sha256 "$dsc" "$S/stanza") ||
  { echo "no $dsc in the Sources stanza" >&2; exit 1; }
fetch "$mirror/$dir/$dsc" "$S/$dsc"
check_sha256 "$S/$dsc" "$dsc_sha" "$dsc_size"
# Every file the .dsc lists (orig and debian tarballs), by its sha256 there.
files=$(awk '/^Checksums-Sha256:/ { in_f = 1; next } /^[^ ]/ { in_f = 0 } in_f && NF == 3 { print $3 }' "$S/$dsc")
[[ -n $files ]] || { echo "$dsc lists no files" >&2; exit 1; }
for f in $files; do
  fetch "$mirror/$dir/$f" "$S/$f"
  read -r sha size < <(checksums Checksums-Sha256 "$f" "$S/$dsc") || { echo "no $f in $dsc" >&2; exit 1; }
  check_sha256 "$S/$f" "$sha" "$size"
done
{
  echo "$PACKAGE $VERSION from $mirror/$dir (dists/$SOURCE_SUITE, InRelease checked by gpgv against $KEYRING)"
  grep -E '^(Date|Version):' "$S/Release" | sed 's/^/Release /'
  echo "Sources.xz sha256 $sources_sha"
  echo "$dsc sha256 $dsc_sha"
  for f in $files; do echo "$f sha256 $(sha256sum "$S/$f" | cut -d' ' -f1)"; done
} >"$D/source.txt"

echo "--- building mkfs.erofs (log: $D/build.log)" >&2
started=$SECONDS
# Verified above along the archive's chain; the maintainer's own signature on
# the .dsc is not checkable here (no debian-keyring), hence --no-check.
(cd "$S" && dpkg-source --no-check -x "$dsc" build) >"$D/build.log" 2>&1 ||
  { tail -20 "$D/build.log" >&2; echo "dpkg-source -x failed" >&2; exit 1; }
(
  cd "$S/build"
  autoreconf -fi
  ./configure --prefix="$D" --enable-multithreading --with-uuid --with-zlib \
    --disable-lz4 --disable-lzma --without-libdeflate --without-libzstd --without-qpl \
    --without-xxhash --without-selinux --disable-fuse
  make -j "$(nproc)" -C lib
  make -j "$(nproc)" -C mkfs
  make -C mkfs install
) >>"$D/build.log" 2>&1 || { tail -20 "$D/build.log" >&2; echo "building mkfs.erofs failed" >&2; exit 1; }
"$D/bin/mkfs.erofs" --version | head -n 1 | tee -a "$D/source.txt" >&2
echo "built in $((SECONDS - started)) s" | tee -a "$D/source.txt" >&2
rm -rf --one-file-system "$S/build"
# Last: the script that made DIR, which bench/run compares before reusing it.
(cd "$tools" && sha256sum build_mkfs_erofs.sh apt_mirror.sh) >"$D/complete"
