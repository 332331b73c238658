#!/usr/bin/env bash
# Builds the three layers of the Debian benchmark image (issue 7) from real
# trees, with tests/tools/diff_layer.py (OCI image-spec changesets):
#   layer1.tar  debootstrap --variant=minbase bookworm (a full layer)
#   layer2.tar  packages installed in a chroot, apt caches and lists removed and
#               tzdata purged: a real diff with whiteouts
#   layer3.tar  deletions (files, whole trees), an emptied and refilled
#               directory (opaque), a directory replaced by a symlink, a file
#               replaced by a directory, new files with an xattr and hardlinks
# and keeps WORKDIR/rootfs3, the tree the three layers must give: the ground
# truth. Debian's own mtimes are kept; only layer 3's new files get a fixed one.
#
# Usage (root): make_debian_image.sh WORKDIR
#   MIRROR: the Debian mirror (default: the bookworm URI of the apt sources).
# Writes WORKDIR/{layer1,layer2,layer3}.tar, WORKDIR/rootfs3, WORKDIR/summary.txt
# and, last, WORKDIR/complete (the sha256 of this script, diff_layer.py and
# apt_mirror.sh).
# Needs debootstrap, chroot, setfattr and the network to the mirror.
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 WORKDIR" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "$0 needs root (debootstrap, chroot)" >&2; exit 1; }
for t in debootstrap chroot setfattr; do
  command -v "$t" >/dev/null || { echo "$t missing (scripts/install-deps)" >&2; exit 1; }
done
tools=$(cd "$(dirname "$0")" && pwd)
W=$1
SUITE=bookworm
PACKAGES=(python3-minimal curl ca-certificates less)
FIXED=@1700000000  # the mtime of the files layer 3 creates

source "$tools/apt_mirror.sh"
mirror=${MIRROR:-$(apt_mirror "$SUITE" | head -n 1)}
[[ -n $mirror ]] || { echo "no apt source for $SUITE in /etc/apt (set MIRROR)" >&2; exit 1; }

mounts=()
undo_mounts() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" 2>/dev/null || true
  done
  mounts=()
}
trap undo_mounts EXIT

# in_chroot DIR CMD...: runs CMD in DIR with /proc mounted and a clean environment.
in_chroot() {
  local dir=$1
  shift
  local rc=0
  mount -t proc proc "$dir/proc"
  mounts+=("$dir/proc")
  chroot "$dir" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive LC_ALL=C HOME=/root "$@" || rc=$?
  undo_mounts
  return $rc
}

# layer OLD NEW OUT [--opaque DIR]...: the changeset OLD → NEW into OUT.
layer() {
  local old=$1 new=$2 out=$3
  shift 3
  python3 "$tools/diff_layer.py" "$old" "$new" "$@" >"$out.tmp"
  mv "$out.tmp" "$out"
}

rm -rf --one-file-system "$W"
mkdir -p "$W/empty"
echo "--- debootstrap --variant=minbase $SUITE from $mirror" >&2
debootstrap --variant=minbase "$SUITE" "$W/rootfs1" "$mirror" >"$W/debootstrap.log" 2>&1 ||
  { tail -20 "$W/debootstrap.log" >&2; exit 1; }
layer "$W/empty" "$W/rootfs1" "$W/layer1.tar"

echo "--- layer 2: apt-get install ${PACKAGES[*]} in a chroot" >&2
cp -a "$W/rootfs1" "$W/rootfs2"
r=$W/rootfs2
cp --remove-destination /etc/resolv.conf "$r/etc/resolv.conf"
in_chroot "$r" sh -ec "
  apt-get update -q
  apt-get install -y -q --no-install-recommends ${PACKAGES[*]}
  apt-get purge -y -q --autoremove tzdata
  apt-get clean
  rm -rf /var/lib/apt/lists/*" >"$W/chroot.log" 2>&1 || { tail -20 "$W/chroot.log" >&2; exit 1; }
# The host's resolver configuration is not part of the image.
cp -a --remove-destination "$W/rootfs1/etc/resolv.conf" "$r/etc/resolv.conf"
layer "$W/rootfs1" "$r" "$W/layer2.tar"

echo "--- layer 3: deletions, an opaque directory, replaced nodes" >&2
cp -a "$r" "$W/rootfs3"
r=$W/rootfs3
rm "$r/etc/motd" "$r/usr/bin/less"                    # files of layers 1 and 2
rm -rf "$r/usr/share/locale" "$r/usr/share/doc/curl"   # whole trees of layers 1 and 2
rm -rf "$r/usr/share/bash-completion"/*                # emptied, then refilled: opaque
mkdir "$r/usr/share/bash-completion/completions"
echo 'complete -W "pull import" vmimage' >"$r/usr/share/bash-completion/completions/vmimage"
echo '# refilled' >"$r/usr/share/bash-completion/bash_completion"
rm -rf "$r/usr/share/man"                              # a directory becomes a symlink
ln -s /nonexistent/man "$r/usr/share/man"
rm "$r/etc/debian_version"                             # a file becomes a directory
mkdir "$r/etc/debian_version"
echo 12-bench >"$r/etc/debian_version/version"
mkdir "$r/opt/bench"                                   # new nodes of every kind
echo 'hello' >"$r/opt/bench/data"
ln "$r/opt/bench/data" "$r/opt/bench/data.link"
setfattr -n user.vmimage.bench -v layer3 "$r/opt/bench/data"
ln -s data "$r/opt/bench/symlink"
mkfifo "$r/opt/bench/fifo"
touch -h -d "$FIXED" "$r/usr/share/bash-completion/completions/vmimage" \
  "$r/usr/share/bash-completion/bash_completion" "$r/usr/share/bash-completion/completions" \
  "$r/usr/share/man" "$r/etc/debian_version/version" "$r/etc/debian_version" \
  "$r/opt/bench"/* "$r/opt/bench"
layer "$W/rootfs2" "$r" "$W/layer3.tar" --opaque usr/share/bash-completion

# The layers applied by an independent reader must give rootfs3 (everything but
# the root, whose metadata no layer carries).
python3 "$tools/tree_manifest.py" tar --mode merged "$W"/layer{1,2,3}.tar | grep -v $'^/\t' >"$W/layers.m"
python3 "$tools/tree_manifest.py" dir "$r" | grep -v $'^/\t' >"$W/rootfs3.m"
python3 "$tools/tree_manifest.py" diff "$W/layers.m" "$W/rootfs3.m" >&2 ||
  { echo "the layers do not give rootfs3" >&2; exit 1; }

{
  echo "Debian $SUITE minbase from $mirror; packages of layer 2: ${PACKAGES[*]}"
  for n in 1 2 3; do
    tar -tf "$W/layer$n.tar" 2>/dev/null | awk -v n="$n" -v bytes="$(stat -c %s "$W/layer$n.tar")" '
      { paths++ } /(^|\/)\.wh\.\.wh\.\.opq$/ { opq++; next } /(^|\/)\.wh\./ { wh++ }
      END { printf "layer %s: %d entries, %.1f MiB of tar, %d whiteouts, %d opaque\n", n, paths,
                   bytes / 1048576, wh, opq }'
  done
  echo "rootfs3: $(($(wc -l <"$W/rootfs3.m") + 1)) paths (with the root), $(du -sm "$r" | cut -f1) MiB"
} | tee "$W/summary.txt" >&2
rm -rf --one-file-system "$W/rootfs1" "$W/rootfs2" "$W/empty" "$W/layers.m"
# Last: the scripts that made the cache, which bench/run compares before reusing it.
(cd "$tools" && sha256sum make_debian_image.sh diff_layer.py apt_mirror.sh) >"$W/complete"
