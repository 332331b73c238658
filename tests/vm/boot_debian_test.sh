#!/usr/bin/env bash
# A real Debian image (tests/tools/make_debian_image.sh: debootstrap, packages
# installed by layer 2, deletions, an opaque directory and replaced nodes in
# layer 3), pulled from a real docker-registry, boots in a microVM with Debian's
# kernel and runs its programs: in the layered layout (three EROFS lowers) and
# the squashed one, each under overlayfs with an upper disk from `vmimage upper
# create`; from `export --type ext4` as the root disk; over virtio-mmio
# (-M microvm); and under Debian 11's 5.10 kernel. Writes in the guest land in
# the upper (a new file, a whiteout), and `export --free 64M` leaves 64 MiB free
# as the guest's df sees it.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root
source "$TOOLS/registry/registry.sh"
source "$VMIMAGE_SOURCE_DIR/tests/vm/lib.sh"

DEBIAN=${DEBIAN_CACHE:-/var/tmp/vmimage-bench/debian}  # shared with bench/run
make_debian() {
  (cd "$TOOLS" && cmp -s <(sha256sum make_debian_image.sh diff_layer.py apt_mirror.sh) "$DEBIAN/complete") ||
    "$TOOLS/make_debian_image.sh" "$DEBIAN"
}
mkdir -p "$(dirname "$DEBIAN")"
(flock 9 && make_debian) 9>"$(dirname "$DEBIAN")/debian.lock" || fail "making the Debian image failed"
vm_prepare bookworm

# The guest's checks: a program of layer 2 runs, what layer 3 deleted or
# replaced is so, and it writes a file and deletes one of layer 1.
check='set -e
python3 -c "import sys; print(\"python\", sys.version_info[0])"
curl --version | head -n 1 | cut -d" " -f1
test ! -e /usr/bin/less && echo "less deleted"
test ! -e /etc/motd && echo "motd deleted"
test ! -e /usr/share/locale && echo "locale deleted"
test -L /usr/share/man && echo "man is a symlink"
cat /etc/debian_version/version
ls -1 /usr/share/bash-completion
echo "$(id -u) $(pwd) $GREETING"'
expected="python 3
curl
less deleted
motd deleted
locale deleted
man is a symlink
12-bench
bash_completion
completions
0 /root hello from the config"

python3 "$TOOLS/pack_image.py" "$WORK/oci" debian "$DEBIAN"/layer{1,2,3}.tar --compress none \
  --workdir /root --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env 'GREETING=hello from the config' --entrypoint '["/bin/sh","-c"]' --cmd "$(python3 -c \
  'import json, sys; print(json.dumps([sys.argv[1]]))' "$check")" >/dev/null
start_registry "$WORK/reg"
ref=127.0.0.1:$REGISTRY_PORT/test/debian:12
push_layout "$WORK/oci" debian "$ref"

for layout in layered squashed; do
  "$VMIMAGE" -q --cache-dir "$WORK/cache-$layout" pull --layout "$layout" "$ref" >/dev/null
  "$VMIMAGE" --cache-dir "$WORK/cache-$layout" inspect "$ref" >"$WORK/$layout.json"
done
mapfile -t lowers < <(json_get "$WORK/layered.json" 'd["lower_paths"]')
[[ ${#lowers[@]} -eq 3 ]] || fail "layered: ${#lowers[@]} lowers, expected 3"
mapfile -t squashed < <(json_get "$WORK/squashed.json" 'd["lower_paths"]')
[[ ${#squashed[@]} -eq 1 ]] || fail "squashed: ${#squashed[@]} lowers, expected 1"

# boot_image NAME LAYOUT INSPECT [vm_boot options]: the image's own program, an upper disk.
boot_image() {
  local name=$1 layout=$2 inspect=$3
  shift 3
  local disks=()
  mapfile -t paths < <(json_get "$inspect" 'd["lower_paths"]')
  for p in "${paths[@]}"; do disks+=("ro:$p"); done
  "$VMIMAGE" upper create "$WORK/$name.upper" --size 1G >/dev/null
  vm_boot "$name" "$(vm_plan "$inspect" --layout "$layout" --upper)" "$@" "${disks[@]}" \
    "rw:$WORK/$name.upper" || fail "$name: the guest did not report"
  vm_expect_exit "$name" 0
  [[ $(vm_output "$name") == "$expected" ]] ||
    { vm_output "$name" >&2; fail "$name: the program's output differs"; }
}

boot_image layered layered "$WORK/layered.json"
boot_image squashed layered "$WORK/squashed.json"
boot_image microvm layered "$WORK/layered.json" --microvm
boot_image bullseye layered "$WORK/layered.json" --kernel bullseye-security

log "writes land in the upper: a new file, a whiteout for a deleted one; the upper is clean"
writes='echo written-in-guest >/root/new-file && rm /etc/issue && mkdir /opt/new-dir'
"$VMIMAGE" upper create "$WORK/writes.upper" --size 1G >/dev/null
disks=()
for p in "${lowers[@]}"; do disks+=("ro:$p"); done
vm_boot writes "$(vm_plan "$WORK/layered.json" --layout layered --upper --cmd "$writes")" \
  "${disks[@]}" "rw:$WORK/writes.upper" || fail "writes: the guest did not report"
vm_expect_exit writes 0
e2fsck -fn "$WORK/writes.upper" >"$WORK/fsck.log" 2>&1 || { cat "$WORK/fsck.log" >&2; fail "the upper is not clean"; }
mount_image ext4 "$WORK/writes.upper" "$WORK/upper"
[[ $(cat "$WORK/upper/upper/root/new-file") == written-in-guest ]] || fail "the new file is not in the upper"
[[ $(stat -c '%F %t:%T' "$WORK/upper/upper/etc/issue") == "character special file 0:0" ]] ||
  fail "no whiteout for /etc/issue in the upper: $(stat -c '%F %t:%T' "$WORK/upper/upper/etc/issue")"
[[ -d $WORK/upper/upper/opt/new-dir ]] || fail "the new directory is not in the upper"

log "export --type ext4 --free 64M as the root disk: it boots, and the guest's df sees 64 MiB free"
"$VMIMAGE" -q --cache-dir "$WORK/cache-layered" export "$ref" "$WORK/root.ext4" --type ext4 --free 64M
root_check="$check
df -B1 / | awk 'NR == 2 { print \"avail\", \$4 }'"
vm_boot rootdisk "$(vm_plan "$WORK/layered.json" --layout rootdisk --cmd "$root_check")" \
  "rw:$WORK/root.ext4" || fail "rootdisk: the guest did not report"
vm_expect_exit rootdisk 0
out=$(vm_output rootdisk)
[[ $(head -n -1 <<<"$out") == "$expected" ]] || { echo "$out" >&2; fail "rootdisk: the program's output differs"; }
avail=$(tail -n 1 <<<"$out" | sed -n 's/^avail \([0-9]*\)$/\1/p')
[[ -n $avail && $avail -ge $((64 << 20)) ]] || fail "rootdisk: $avail bytes available in the guest, expected >= $((64 << 20))"
log "rootdisk: $avail bytes available in the guest"
e2fsck -fn "$WORK/root.ext4" >"$WORK/fsck.log" 2>&1 || { cat "$WORK/fsck.log" >&2; fail "the root disk is not clean after the boot"; }
