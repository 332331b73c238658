#!/usr/bin/env bash
# Fetches a Debian guest kernel and its modules, verified along the archive's
# chain of trust, and unpacks it without installing anything:
#   dists/SUITE/InRelease          gpgv with debian-archive-keyring.gpg
#   main/binary-amd64/Packages.xz  its sha256 in the verified Release
#   linux-image-*.deb              its sha256 in its Packages stanza
# The image package is the one the suite's linux-image-amd64 depends on.
#
# Usage: fetch_kernel.sh SUITE DIR
#   SUITE: bookworm (6.1, the machine's own suite) or bullseye-security (5.10).
#   MIRROR: the mirror holding SUITE (default: the machine's apt source for it;
#   for a *-security suite its debian-security sibling).
# Writes DIR/vmlinuz, DIR/config, DIR/lib/modules/VERSION/ (with modules.dep), DIR/version, DIR/source.txt and,
# last, DIR/complete (the sha256 of this script) so a cache can be reused.
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 SUITE DIR" >&2; exit 2; }
for t in curl gpgv xz dpkg-deb depmod sha256sum; do
  command -v "$t" >/dev/null || { echo "$t missing (scripts/install-deps)" >&2; exit 1; }
done
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[[ -f $KEYRING ]] || { echo "$KEYRING missing (package debian-archive-keyring)" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
SUITE=$1
D=$2

source "$here/../tools/apt_mirror.sh"
if [[ -z ${MIRROR:-} ]]; then
  MIRROR=$(apt_mirror "$SUITE" | head -n 1)
  if [[ -z $MIRROR && $SUITE == *-security ]]; then
    own=$(. /etc/os-release && echo "$VERSION_CODENAME")
    MIRROR=$(apt_mirror "$own-security" | head -n 1)
  fi
fi
[[ -n $MIRROR ]] || { echo "no apt source for $SUITE in /etc/apt (set MIRROR)" >&2; exit 1; }
MIRROR=${MIRROR%/}

fetch() {
  curl -fsS --retry 2 -o "$2" "$1" || { echo "downloading $1 failed" >&2; exit 1; }
}
check_sha256() {
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  [[ $got == "$2" ]] || { echo "$1: sha256 $got, expected $2" >&2; exit 1; }
}
# field PACKAGE NAME FILE: the value of field NAME in PACKAGE's stanza of a Packages file.
field() {
  awk -v p="$1" -v f="$2:" '
    /^Package:/ { in_p = ($2 == p) } in_p && $1 == f { sub(/^[^:]*:[ \t]*/, ""); print; exit }' "$3"
}

rm -rf --one-file-system "$D"
mkdir -p "$D/dl"
fetch "$MIRROR/dists/$SUITE/InRelease" "$D/dl/InRelease"
gpgv --keyring "$KEYRING" --output "$D/dl/Release" "$D/dl/InRelease" 2>"$D/dl/gpgv.log" ||
  { cat "$D/dl/gpgv.log" >&2; echo "InRelease of $SUITE: bad or unknown signature" >&2; exit 1; }
read -r packages_sha _ < <(awk '
  /^SHA256:/ { in_f = 1; next } /^[^ ]/ { in_f = 0 }
  in_f && $3 == "main/binary-amd64/Packages.xz" { print $1, $2; exit }' "$D/dl/Release") ||
  { echo "no main/binary-amd64/Packages.xz in $SUITE's Release" >&2; exit 1; }
fetch "$MIRROR/dists/$SUITE/main/binary-amd64/by-hash/SHA256/$packages_sha" "$D/dl/Packages.xz"
check_sha256 "$D/dl/Packages.xz" "$packages_sha"
xz -dc "$D/dl/Packages.xz" >"$D/dl/Packages"

# linux-image-amd64 depends on the signed image package, e.g. linux-image-6.1.0-57-amd64.
image=$(field linux-image-amd64 Depends "$D/dl/Packages" | tr ',|' '\n\n' | awk '{ print $1 }' |
  grep -m1 '^linux-image-[0-9]') || { echo "no linux-image-amd64 in $SUITE" >&2; exit 1; }
file=$(field "$image" Filename "$D/dl/Packages")
sha=$(field "$image" SHA256 "$D/dl/Packages")
version=$(field "$image" Version "$D/dl/Packages")
[[ -n $file && -n $sha ]] || { echo "no stanza for $image in $SUITE's Packages" >&2; exit 1; }
echo "--- $image $version from $MIRROR ($SUITE)" >&2
fetch "$MIRROR/$file" "$D/dl/image.deb"
check_sha256 "$D/dl/image.deb" "$sha"
dpkg-deb -x "$D/dl/image.deb" "$D/root"

kver=$(ls "$D/root/lib/modules")
mv "$D/root/boot/vmlinuz-$kver" "$D/vmlinuz"
mv "$D/root/boot/config-$kver" "$D/config"
mkdir -p "$D/lib/modules"
mv "$D/root/lib/modules/$kver" "$D/lib/modules/"
depmod -b "$D" "$kver"  # the package leaves modules.dep to its postinst
echo "$kver" >"$D/version"
echo "$image $version ($SUITE, $MIRROR/$file, sha256 $sha)" >"$D/source.txt"
rm -rf --one-file-system "$D/root" "$D/dl"
sha256sum "$here/fetch_kernel.sh" | cut -d' ' -f1 >"$D/complete"
