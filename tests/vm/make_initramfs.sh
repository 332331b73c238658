#!/usr/bin/env bash
# Builds the guest's initramfs for one kernel: busybox (static), guest_exec
# (static), tests/vm/init and the kernel's own modules a microVM disk stack
# needs, with what they depend on, loaded in dependency order:
#   virtio transports  virtio_pci (PCI machines), virtio_mmio (-M microvm, as Firecracker)
#   virtio_blk, erofs, overlay, ext4 (+ crc32c: a softdep modules.dep does not
#   list, needed for metadata_csum), dm-verity
# and the host's (Debian's) dmsetup with the shared libraries and the dynamic
# loader it links, at their own paths, for the guest's dm-verity lowers.
#
# Usage: make_initramfs.sh KERNEL_DIR OUT
#   KERNEL_DIR: from fetch_kernel.sh (vmlinuz, version, lib/modules/VERSION)
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 KERNEL_DIR OUT" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
K=$1
OUT=$2
BUSYBOX=$(dpkg -L busybox-static 2>/dev/null | grep -m1 '/bin/busybox$') ||
  { echo "busybox-static missing (scripts/install-deps)" >&2; exit 1; }
DMSETUP=$(command -v /usr/sbin/dmsetup /sbin/dmsetup | head -n 1) ||
  { echo "dmsetup missing (scripts/install-deps)" >&2; exit 1; }
for t in cpio gzip gcc; do
  command -v "$t" >/dev/null || { echo "$t missing (scripts/install-deps)" >&2; exit 1; }
done
kver=$(cat "$K/version")
M=$K/lib/modules/$kver
WANTED=(virtio_pci virtio_mmio virtio_blk crc32c_generic erofs overlay ext4 dm-verity)

R=$(mktemp -d "${TMPDIR:-/tmp}/initramfs.XXXXXX")
trap 'rm -rf "$R"' EXIT
mkdir -p "$R"/{bin,proc,sys,dev,modules,lower,upper,newroot}
cp "$BUSYBOX" "$R/bin/busybox"
for applet in sh mount umount grep insmod sed base64 mkdir sleep poweroff cat sync; do
  ln -s busybox "$R/bin/$applet"
done
gcc -static -O2 -Wall -Wextra -Werror -o "$R/bin/guest_exec" "$here/guest_exec.c"

# dmsetup and every library ldd names ("lib => /path (addr)", the loader as
# "/path (addr)"), each copied as a file (cp -L: the host's are symlinks into
# /usr) to the path the binary and the loader look for it at.
cp "$DMSETUP" "$R/bin/dmsetup"
libs=$(ldd "$DMSETUP") || { echo "ldd $DMSETUP failed" >&2; exit 1; }
for lib in $(awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$libs"); do
  mkdir -p "$R$(dirname "$lib")"
  cp -L "$lib" "$R$lib"
done
[[ -f $R/lib64/ld-linux-x86-64.so.2 ]] || { echo "ldd $DMSETUP named no loader: $libs" >&2; exit 1; }
cp "$here/init" "$R/init"
chmod 755 "$R/init"

# Every wanted module after its dependencies (modules.dep lists them, nearest
# first), each once.
list=()
add() {
  local path=$1 dep
  [[ " ${list[*]} " == *" $path "* ]] && return
  for dep in $(awk -v p="$path:" '$1 == p { $1 = ""; print }' "$M/modules.dep"); do
    add "$dep"
  done
  list+=("$path")
}
for name in "${WANTED[@]}"; do
  path=$(awk -v n="/$name.ko:" 'index($1, n) && substr($1, length($1) - length(n) + 1) == n { print substr($1, 1, length($1) - 1); exit }' "$M/modules.dep")
  [[ -n $path ]] || { echo "$kver has no module $name" >&2; exit 1; }
  add "$path"
done
for path in "${list[@]}"; do
  cp "$M/$path" "$R/modules/$(basename "$path")"
  basename "$path"
done >"$R/modules.list"

(cd "$R" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
