#!/usr/bin/env bash
# The guest runs an image's program as its OCI config says, read from `vmimage
# inspect --json`: entrypoint + cmd, env, working directory and user: numeric
# (1000:1000), and names resolved through the image's own /etc/passwd and
# /etc/group with supplementary groups (as runc does). A lower with a broken
# superblock makes the boot report the failure, not hang.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root
source "$TOOLS/registry/registry.sh"  # json_get
source "$VMIMAGE_SOURCE_DIR/tests/vm/lib.sh"
vm_prepare bookworm

# A busybox image: one layer with the program, one with the accounts.
r=$WORK/root1
mkdir -p "$r/bin" "$r/srv/data"
cp /bin/busybox "$r/bin/busybox"
for applet in sh id pwd cat; do ln -s busybox "$r/bin/$applet"; done
tar --numeric-owner --owner=0 --group=0 -C "$r" -cf "$WORK/layer1.tar" .
r=$WORK/root2
mkdir -p "$r/etc" "$r/home/app"
cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
other:x:1000:1000:Other:/home/other:/bin/sh
app:x:1234:2345:App:/home/app:/bin/sh
EOF
cat >"$r/etc/group" <<'EOF'
root:x:0:
other:x:1000:
audio:x:63:other,app
app:x:2345:
video:x:44:other
staff:x:50:app
EOF
tar --numeric-owner --owner=0 --group=0 -C "$r" -cf "$WORK/layer2.tar" .

show='echo "uid=$(id -u) gid=$(id -g) groups=$(id -G) pwd=$(pwd) HOME=$HOME A=$A B=$B args=$*"'
# image TAG USER WORKDIR: imports the two layers with this config, inspects it.
image() {
  local tag=$1 user=$2 workdir=$3
  python3 "$TOOLS/pack_image.py" "$WORK/oci-$tag" "$tag" "$WORK/layer1.tar" "$WORK/layer2.tar" \
    --user "$user" --workdir "$workdir" --env A=1 --env 'B=two words' \
    --entrypoint "$(python3 -c 'import json, sys; print(json.dumps(["/bin/sh", "-c", sys.argv[1], "entry"]))' "$show")" \
    --cmd '["one","two three"]' >/dev/null
  tar -C "$WORK/oci-$tag" -cf "$WORK/$tag.tar" .
  "$VMIMAGE" -q --cache-dir "$WORK/cache" import --layout layered "$tag" "$WORK/$tag.tar" >/dev/null
  "$VMIMAGE" --cache-dir "$WORK/cache" inspect "$tag" >"$WORK/$tag.json"
}

# run_image NAME TAG EXPECTED [ro:LOWER...]: boots the image (its own lowers
# unless given), with a tmpfs upper; the program must print EXPECTED.
run_image() {
  local name=$1 tag=$2 expected=$3
  shift 3
  local disks=("$@")
  if [[ ${#disks[@]} -eq 0 ]]; then
    mapfile -t paths < <(json_get "$WORK/$tag.json" 'd["lower_paths"]')
    for p in "${paths[@]}"; do disks+=("ro:$p"); done
  fi
  vm_boot "$name" "$(vm_plan "$WORK/$tag.json" --layout layered)" "${disks[@]}" ||
    fail "$name: the guest did not report"
  vm_expect_exit "$name" 0
  [[ $(vm_output "$name") == "$expected" ]] ||
    { vm_output "$name" >&2; fail "$name: expected: $expected"; }
}

image numeric:v1 1000:1000 /srv/data
run_image numeric numeric:v1 \
  "uid=1000 gid=1000 groups=1000 44 63 pwd=/srv/data HOME=/home/other A=1 B=two words args=one two three"

image named:v1 app /home/app
run_image named named:v1 \
  "uid=1234 gid=2345 groups=2345 50 63 pwd=/home/app HOME=/home/app A=1 B=two words args=one two three"

image named-group:v1 app:video /
run_image named-group named-group:v1 \
  "uid=1234 gid=44 groups=44 50 63 pwd=/ HOME=/home/app A=1 B=two words args=one two three"

image uid-only:v1 4321 /
run_image uid-only uid-only:v1 "uid=4321 gid=0 groups=0 pwd=/ HOME=/ A=1 B=two words args=one two three"

log "a lower with a broken superblock: the boot reports it"
mapfile -t paths < <(json_get "$WORK/numeric:v1.json" 'd["lower_paths"]')
cp "${paths[0]}" "$WORK/broken.erofs"
printf '\0\0\0\0' | dd of="$WORK/broken.erofs" bs=1 seek=1024 conv=notrunc status=none  # the EROFS magic
vm_boot broken "$(vm_plan "$WORK/numeric:v1.json" --layout layered)" "ro:$WORK/broken.erofs" "ro:${paths[1]}" ||
  fail "broken: the guest did not report"
[[ -z $VM_STATUS && $VM_ERROR == "mount erofs lower /dev/vda" ]] ||
  fail "broken: expected the mount of /dev/vda to fail, got status '$VM_STATUS', error '$VM_ERROR'"
