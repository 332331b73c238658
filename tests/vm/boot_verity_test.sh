#!/usr/bin/env bash
# dm-verity lowers: an image pulled from a real docker-registry with `pull
# --verity --layout layered` boots with every lower opened read-only through
# dm-verity in the guest (dmsetup; the table and root hash from inspect's
# "verity" object, passed on the kernel command line as a launcher would) and
# its program reads what the image holds; on the host, veritysetup verifies
# every lower blob against its root hash. Then one byte of a file's data is
# flipped in a lower blob of the store: the guest's read of that file fails
# with EIO while the rest of the image still reads, veritysetup and `vmimage
# verify` both reject the blob; and a wrong root hash on the command line makes
# the lower's mount fail. `export --type ext4 --verity` boots too, as a
# read-only root disk through dm-verity. Four boots.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root
source "$TOOLS/registry/registry.sh"
source "$VMIMAGE_SOURCE_DIR/tests/vm/lib.sh"
command -v veritysetup >/dev/null || skip "veritysetup is not installed (scripts/install-deps installs cryptsetup-bin)"
vm_prepare bookworm

# The image: busybox in layer 1; in layer 2 a file whose first block starts
# with a marker found nowhere else (over 4 KiB, so that block is the file's
# data alone and no mount reads it), and a small file beside it.
marker=VMIMAGE-VERITY-MARKER-5d1c
r=$WORK/root1
mkdir -p "$r/bin"
cp /bin/busybox "$r/bin/busybox"
for applet in sh cat ls sha256sum; do ln -s busybox "$r/bin/$applet"; done
tar --numeric-owner --owner=0 --group=0 -C "$r" -cf "$WORK/layer1.tar" .
r=$WORK/root2
mkdir -p "$r/srv"
{
  echo "$marker"
  for i in $(seq 500); do echo "line $i of the file that verity guards"; done
} >"$r/srv/marked"
echo "the other file" >"$r/srv/other"
tar --numeric-owner --owner=0 --group=0 -C "$r" -cf "$WORK/layer2.tar" .

# The program prints the files (their sha256 for the big ones) and, from the
# guest's sysfs, each device-mapper device with the disk under it.
program='cat /srv/other
sha256sum /srv/marked /bin/busybox
for d in /sys/block/dm-*; do echo "$(cat $d/dm/name) $(ls $d/slaves)"; done'
expected="the other file
$(sha256sum <"$r/srv/marked" | cut -c1-64)  /srv/marked
$(sha256sum </bin/busybox | cut -c1-64)  /bin/busybox
lower1 vda
lower2 vdb"
python3 "$TOOLS/pack_image.py" "$WORK/oci" verity "$WORK/layer1.tar" "$WORK/layer2.tar" \
  --cmd "$(python3 -c 'import json, sys; print(json.dumps(["/bin/sh", "-c", sys.argv[1]]))' "$program")" >/dev/null
start_registry "$WORK/reg"
ref=127.0.0.1:$REGISTRY_PORT/test/verity:1
push_layout "$WORK/oci" verity "$ref"

vm() { "$VMIMAGE" --cache-dir "$WORK/cache" "$@"; }
vm -q pull --verity --layout layered "$ref" >/dev/null || fail "pull --verity --layout layered"
vm inspect "$ref" >"$WORK/image.json"
mapfile -t lowers < <(json_get "$WORK/image.json" 'd["lower_paths"]')
[[ ${#lowers[@]} -eq 2 ]] || fail "${#lowers[@]} lowers, expected 2"

log "inspect: every lower and canonical layer has a verity object that agrees with itself and its blob"
python3 - "$WORK/image.json" <<'EOF' || fail "inspect's verity objects"
import json, os, re, sys
d = json.load(open(sys.argv[1]))
ok = True
for key in ("layers", "canonical_layers"):
    for i, layer in enumerate(d[key]):
        v = layer.get("verity")
        where = f"{key}[{i}] {layer['digest']}"
        if not isinstance(v, dict):
            print(f"{where}: no verity object", file=sys.stderr); ok = False; continue
        size, off, blocks, start = v["data_size"], v["hash_offset"], v["data_blocks"], v["hash_start_block"]
        table = (f"0 {size // 512} verity 1 {{device}} {{device}} 4096 4096 {blocks} {start} "
                 f"sha256 {v['root_hash']} {v['salt']}")
        opened = f"veritysetup open {{device}} {{name}} {{device}} {v['root_hash']} --hash-offset={off}"
        checks = {
            "root_hash is 64 hex": re.fullmatch("[0-9a-f]{64}", v["root_hash"]),
            "salt is 64 hex": re.fullmatch("[0-9a-f]{64}", v["salt"]),
            "sha256, 4096-byte blocks": (v["hash_algorithm"], v["data_block_size"], v["hash_block_size"])
            == ("sha256", 4096, 4096),
            "data_size is whole blocks": size > 0 and size % 4096 == 0,
            "hash_offset is the data rounded up to 4096": off == (size + 4095) // 4096 * 4096,
            "data_blocks = data_size / 4096": blocks == size // 4096,
            "hash_start_block = hash_offset / 4096 + 1": start == off // 4096 + 1,
            "dm_table": v["dm_table"] == table,
            "veritysetup_open": v["veritysetup_open"] == opened,
            "the tree follows the data in the blob": os.path.getsize(layer["path"]) > off,
        }
        for what, good in checks.items():
            if not good:
                print(f"{where}: {what}: {v}", file=sys.stderr); ok = False
sys.exit(0 if ok else 1)
EOF

# verity_field I FIELD: the lower I's verity field.
verity_field() { json_get "$WORK/image.json" "d['layers'][$1]['verity']['$2']"; }

log "veritysetup verifies every lower blob against its root hash, its superblock matches inspect"
dump() { sed -n "s/^$2:[[:space:]]*//p" "$WORK/dump$1.txt"; }
for i in "${!lowers[@]}"; do
  p=${lowers[i]}
  veritysetup verify "$p" "$p" "$(verity_field "$i" root_hash)" --hash-offset="$(verity_field "$i" hash_offset)" ||
    fail "veritysetup verify of lower $i ($p)"
  veritysetup dump "$p" --hash-offset="$(verity_field "$i" hash_offset)" >"$WORK/dump$i.txt" ||
    fail "veritysetup dump of lower $i ($p)"
  [[ $(dump "$i" 'Hash type') == 1 && $(dump "$i" 'Hash algorithm') == sha256 &&
    $(dump "$i" 'Data block size') == 4096 && $(dump "$i" 'Hash block size') == 4096 &&
    $(dump "$i" 'Data blocks') == "$(verity_field "$i" data_blocks)" &&
    $(dump "$i" Salt) == "$(verity_field "$i" salt)" ]] ||
    { cat "$WORK/dump$i.txt" >&2; fail "lower $i: the verity superblock differs from inspect's object"; }
done

log "plan.py --verity refuses lowers without a verity object"
python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
del d["layers"][1]["verity"]
json.dump(d, open(sys.argv[2], "w"))' "$WORK/image.json" "$WORK/no-verity.json"
expect_fail vm_plan "$WORK/no-verity.json" --layout layered --verity
grep -q "layer 1 .* has no verity object" "$WORK/err" || fail "plan.py without verity: $(cat "$WORK/err")"

disks=()
for p in "${lowers[@]}"; do disks+=("ro:$p"); done

log "the program runs with every lower opened through dm-verity and reads the image's files"
plan=$(vm_plan "$WORK/image.json" --layout layered --verity) || fail "plan.py --verity"
vm_boot verity "$plan" "${disks[@]}" || fail "verity: the guest did not report"
vm_expect_exit verity 0
[[ $(vm_output verity) == "$expected" ]] || { vm_output verity >&2; fail "verity: the program's output differs"; }

log "export --type ext4 --verity as the root disk: opened through dm-verity, read-only under a tmpfs upper"
vm --json export --type ext4 --verity "$ref" "$WORK/root.ext4" >"$WORK/export.json" || fail "export --verity"
veritysetup verify "$WORK/root.ext4" "$WORK/root.ext4" "$(json_get "$WORK/export.json" 'd["verity"]["root_hash"]')" \
  --hash-offset="$(json_get "$WORK/export.json" 'd["verity"]["hash_offset"]')" || fail "veritysetup verify of the export"
plan=$(vm_plan "$WORK/image.json" --layout rootdisk --verity --root-verity "$WORK/export.json") ||
  fail "plan.py --verity --layout rootdisk"
vm_boot rootdisk "$plan" "ro:$WORK/root.ext4" || fail "rootdisk: the guest did not report"
vm_expect_exit rootdisk 0
[[ $(vm_output rootdisk) == "$(head -n 3 <<<"$expected")
lower1 vda" ]] || { vm_output rootdisk >&2; fail "rootdisk: the program's output differs"; }

log "one byte of the marked file's data flipped in the top lower: its read fails with EIO"
top=${lowers[1]}
top_digest=$(json_get "$WORK/image.json" 'd["layers"][1]["digest"]')
mapfile -t hits < <(grep -obaF "$marker" "$top" | cut -d: -f1)
[[ ${#hits[@]} -eq 1 ]] || fail "the marker is ${#hits[@]} times in the top lower, expected once"
((hits[0] < $(verity_field 1 hash_offset))) || fail "the marker is at ${hits[0]}, past the data"
printf 'X' | dd of="$top" bs=1 seek="${hits[0]}" conv=notrunc status=none
if veritysetup verify "$top" "$top" "$(verity_field 1 root_hash)" --hash-offset="$(verity_field 1 hash_offset)" \
  >/dev/null 2>&1; then
  fail "veritysetup verify passed the flipped blob"
fi
if vm verify >"$WORK/verify.txt" 2>&1; then fail "vmimage verify passed the flipped blob"; fi
grep -qF "${top_digest#sha256:}" "$WORK/verify.txt" || grep -qF "$top" "$WORK/verify.txt" ||
  { cat "$WORK/verify.txt" >&2; fail "vmimage verify does not name the flipped blob $top_digest"; }
plan=$(vm_plan "$WORK/image.json" --layout layered --verity --cmd /bin/sh --cmd=-c \
  --cmd 'cat /srv/other && cat /srv/marked >/dev/null') || fail "plan.py --verity"
vm_boot flipped "$plan" "${disks[@]}" || fail "flipped: the guest did not report"
[[ -z $VM_ERROR ]] || { tail -n 30 "$WORK/flipped.console" >&2; fail "flipped: the guest failed: $VM_ERROR"; }
[[ $VM_STATUS != 0 ]] || fail "flipped: reading the flipped file succeeded"
console=$(tr -d '\r' <"$WORK/flipped.console")
grep -q '^cat: .*Input/output error' <<<"$console" ||
  { tail -n 30 <<<"$console" >&2; fail "flipped: no I/O error from cat"; }
grep -Eq 'device-mapper: verity: .*data block [0-9]+ is corrupted' <<<"$console" ||
  { tail -n 30 <<<"$console" >&2; fail "flipped: dm-verity reported no corrupted block"; }
[[ $(vm_output flipped | grep -v '^cat: ') == "the other file" ]] ||
  { vm_output flipped >&2; fail "flipped: the other file did not read"; }

log "a wrong root hash on the command line: the base lower's mount fails"
python3 - "$WORK/image.json" "$WORK/wrong.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
v = d["layers"][0]["verity"]
wrong = v["root_hash"][:-1] + ("0" if v["root_hash"][-1] != "0" else "1")
v["dm_table"] = v["dm_table"].replace(v["root_hash"], wrong)
json.dump(d, open(sys.argv[2], "w"))
EOF
plan=$(vm_plan "$WORK/wrong.json" --layout layered --verity) || fail "plan.py --verity"
vm_boot wrong "$plan" "${disks[@]}" || fail "wrong: the guest did not report"
[[ -z $VM_STATUS && $VM_ERROR == "mount erofs lower /dev/vda through dm-verity" ]] ||
  fail "wrong: expected the mount of /dev/vda to fail, got status '$VM_STATUS', error '$VM_ERROR'"
log "ok"
