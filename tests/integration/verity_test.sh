#!/usr/bin/env bash
# --verity: every blob import, mkfs and export write ends with a dm-verity tree
# that Debian's `veritysetup verify` accepts (EROFS lowers, squashed lowers, ext4
# lowers and exports, odd sizes); the filesystem before the tree is byte for
# byte the one written without --verity, and the kernel mounts it (trailing
# tree and all) to the OCI result; the same input gives the same bytes and root
# hashes in another store; inspect gives a launcher the table line; the
# store's default, $VMIMAGE_VERITY and the flags decide in that order; verify
# names a blob whose byte was flipped.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
require_root
command -v veritysetup >/dev/null || fail "veritysetup missing (scripts/install-deps installs cryptsetup-bin)"
cache="$WORK/cache"
vmi() { "$VMIMAGE" --cache-dir "$cache" "$@"; }

python3 "$TOOLS/make_layers.py" all "$WORK/layers"
dir="$WORK/layers/stacks/main"
tars=()
for i in $(seq 1 "$(ls "$dir"/*.tar | wc -l)"); do tars+=("$dir/$i.tar"); done
python3 "$TOOLS/pack_image.py" "$WORK/oci" main "${tars[@]}" >/dev/null
python3 "$TOOLS/tree_manifest.py" tar --mode merged "${tars[@]}" >"$WORK/want"

vmi -q import --layout layered plain:v1 "$WORK/oci" || fail "import without --verity"
vmi -q import --verity --layout layered v:layered "$WORK/oci" || fail "import --verity layered"
vmi -q import --verity v:squashed "$WORK/oci" || fail "import --verity (squashed)"
vmi -q import --verity --fs ext4 --layout layered v:ext4 "$WORK/oci" || fail "import --verity --fs ext4"

# blobs TAG: "path fs_type root_hash salt data_size hash_offset dm_table" per blob.
blobs() {
  vmi inspect --json "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
seen = set()
for l in d["layers"] + d["canonical_layers"]:
    if l["path"] in seen:
        continue
    seen.add(l["path"])
    v = l.get("verity")
    if v is None:
        print(l["path"], l["fs_type"], "none")
        continue
    print(l["path"], l["fs_type"], v["root_hash"], v["salt"], v["data_size"], v["hash_offset"],
          v["dm_table"].replace(" ", ","), v["veritysetup_open"].replace(" ", ","))'
}

# untreed TAG: how many of the image's blobs have no tree (output taken whole:
# with pipefail, `blobs | grep -q` fails when grep stops reading first).
untreed() {
  blobs "$1" >"$WORK/blobs.txt"
  grep -c ' none$' "$WORK/blobs.txt" || true
}

check_blob() {  # PATH FS ROOT SALT DATA_SIZE HASH_OFFSET TABLE OPEN
  local path=$1 fs=$2 root=$3 salt=$4 data=$5 offset=$6 table=${7//,/ } open=${8//,/ }
  [[ $root != none ]] || fail "$path has no verity tree"
  veritysetup verify "$path" "$path" "$root" --hash-offset="$offset" >"$WORK/vs" 2>&1 ||
    fail "veritysetup verify $path: $(cat "$WORK/vs")"
  ((data % 4096 == 0 && offset == data)) || fail "$path: data size $data, hash offset $offset"
  local want_table="0 $((data / 512)) verity 1 {device} {device} 4096 4096 $((data / 4096)) $((offset / 4096 + 1)) sha256 $root $salt"
  [[ $table == "$want_table" ]] || fail "$path: table '$table', want '$want_table'"
  [[ $open == "veritysetup open {device} {name} {device} $root --hash-offset=$offset" ]] ||
    fail "$path: veritysetup command '$open'"
  veritysetup dump --hash-offset="$offset" "$path" >"$WORK/dump" 2>&1 || fail "dump $path"
  grep -q "Salt:.*$salt" "$WORK/dump" || fail "$path: superblock salt: $(cat "$WORK/dump")"
}

for tag in v:layered v:squashed v:ext4; do
  n=0
  while read -r path fs rest; do
    # shellcheck disable=SC2086
    check_blob "$path" "$fs" $rest
    n=$((n + 1))
  done < <(blobs "$tag")
  ((n >= 2)) || fail "$tag: only $n blobs"
  log "$tag: $n blobs verified by veritysetup"
done

# The filesystem part equals the blob written without --verity (same key
# before verity_blob_key), and the kernel mounts the verity blobs as they are.
mapfile -t plain < <(vmi inspect --json plain:v1 | python3 -c '
import json, sys
for l in json.load(sys.stdin)["layers"]: print(l["path"], l["size"])')
mapfile -t with < <(blobs v:layered | awk '{print $1, $5}')
((${#plain[@]} == ${#with[@]})) || fail "layer counts differ"
lowers=""
for i in "${!plain[@]}"; do
  read -r ppath psize <<<"${plain[$i]}"
  read -r vpath vdata <<<"${with[$i]}"
  [[ $ppath != "$vpath" ]] || fail "the verity import reused the plain blob $ppath"
  ((psize <= vdata)) || fail "layer $i: the plain image is $psize bytes, the tree covers $vdata"
  cmp -n "$psize" "$ppath" "$vpath" || fail "layer $i: the filesystem differs from the plain blob"
  mount_image erofs "$vpath" "$WORK/mnt/l$i"
  lowers="$WORK/mnt/l$i${lowers:+:$lowers}"
done
mount_overlay "$WORK/mnt/layered" "$lowers"
python3 "$TOOLS/tree_manifest.py" dir "$WORK/mnt/layered" >"$WORK/got"
python3 "$TOOLS/tree_manifest.py" diff --ignore nlink "$WORK/got" "$WORK/want" || fail "layered verity lowers differ from the OCI result"
squashed=$(vmi inspect --json v:squashed | python3 -c 'import json,sys; print(json.load(sys.stdin)["rootfs_path"])')
mount_image erofs "$squashed" "$WORK/mnt/squashed"
python3 "$TOOLS/tree_manifest.py" dir "$WORK/mnt/squashed" >"$WORK/got"
python3 "$TOOLS/tree_manifest.py" diff "$WORK/got" "$WORK/want" || fail "the squashed verity lower differs"
log "kernel mounts of the verity lowers equal the OCI result"

# Same input, same options: another store writes the same bytes and hashes.
"$VMIMAGE" --cache-dir "$WORK/cache2" -q import --verity --layout layered v:layered "$WORK/oci" ||
  fail "import into a second store"
"$VMIMAGE" --cache-dir "$WORK/cache2" inspect --json v:layered | python3 -c '
import json, sys
for l in json.load(sys.stdin)["layers"]: print(l["path"], l["verity"]["root_hash"])' >"$WORK/second"
i=0
while read -r path root; do
  read -r first_path _ first_root _ < <(blobs v:layered | sed -n "$((i + 1))p")
  [[ $root == "$first_root" ]] || fail "layer $i: root hash $root in the second store, $first_root in the first"
  cmp "$path" "$first_path" || fail "layer $i: the two stores' blobs differ"
  i=$((i + 1))
done <"$WORK/second"

# $VMIMAGE_VERITY=1 is the default; --no-verity wins over it.
VMIMAGE_VERITY=1 vmi -q import env:v1 "$WORK/oci" || fail "import with VMIMAGE_VERITY=1"
(($(untreed env:v1) == 0)) || fail "VMIMAGE_VERITY=1 wrote a blob without a tree"
VMIMAGE_VERITY=1 vmi -q import --no-verity envno:v1 "$WORK/oci" || fail "import --no-verity"
(($(untreed envno:v1) > 0)) || fail "--no-verity wrote trees"
VMIMAGE_VERITY=yes expect_fail vmi import bad:v1 "$WORK/oci"
grep -q 'VMIMAGE_VERITY' "$WORK/err" || fail "bad VMIMAGE_VERITY: $(cat "$WORK/err")"

# The store's default (vmimage config verity): below $VMIMAGE_VERITY and the flags.
[[ $(vmi config verity) == "verity off" ]] || fail "a new store's default: $(vmi config verity)"
vmi -q config verity on || fail "config verity on"
vmi --json config verity >"$WORK/config.json"
python3 -c 'import json, sys; assert json.load(open(sys.argv[1]))["verity"] is True' "$WORK/config.json" ||
  fail "config --json: $(cat "$WORK/config.json")"
vmi -q import cfg:v1 "$WORK/oci" || fail "import with the store's default on"
(($(untreed cfg:v1) == 0)) || fail "the store's default wrote a blob without a tree"
VMIMAGE_VERITY=0 vmi -q import cfgenv:v1 "$WORK/oci" || fail "import with VMIMAGE_VERITY=0"
(($(untreed cfgenv:v1) > 0)) || fail "VMIMAGE_VERITY=0 did not win over the store's default"
vmi -q import --no-verity cfgno:v1 "$WORK/oci" || fail "import --no-verity"
(($(untreed cfgno:v1) > 0)) || fail "--no-verity did not win over the store's default"
vmi --json export --type erofs cfg:v1 "$WORK/default.erofs" >"$WORK/export.json" || fail "export"
grep -q '"verity"' "$WORK/export.json" || fail "export ignored the store's default: $(cat "$WORK/export.json")"
vmi -q config verity off || fail "config verity off"
expect_fail vmi config verity maybe

# mkfs: odd sizes (512-byte EROFS blocks, ext4), a given salt, the JSON summary.
for opts in "" "--block-size 512" "--type ext4"; do
  # shellcheck disable=SC2086
  vmi --json mkfs $opts --verity "${tars[0]}" "$WORK/mkfs.img" >"$WORK/mkfs.json" ||
    fail "mkfs $opts --verity"
  read -r root offset < <(python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))["verity"]; print(v["root_hash"], v["hash_offset"])' "$WORK/mkfs.json")
  veritysetup verify "$WORK/mkfs.img" "$WORK/mkfs.img" "$root" --hash-offset="$offset" ||
    fail "veritysetup verify of mkfs $opts"
  rm -f "$WORK/mkfs.img"
done
salt=$(printf 'a%.0s' {1..64})
vmi --json mkfs --verity --verity-salt "$salt" "${tars[0]}" "$WORK/salted.img" >"$WORK/mkfs.json" ||
  fail "mkfs --verity-salt"
grep -q "\"salt\": *\"$salt\"" "$WORK/mkfs.json" || fail "mkfs --verity-salt: $(cat "$WORK/mkfs.json")"
expect_fail vmi mkfs --verity --verity-salt xyz "${tars[0]}" "$WORK/bad.img"
grep -q 'hex' "$WORK/err" || fail "bad salt: $(cat "$WORK/err")"
[[ ! -e $WORK/bad.img ]] || fail "a refused mkfs left its output"

# export --verity: ext4 and EROFS, each with a tree veritysetup accepts.
for type in ext4 erofs; do
  vmi --json export --verity --type "$type" v:layered "$WORK/export.$type" >"$WORK/export.json" ||
    fail "export --verity --type $type"
  read -r root offset < <(python3 -c '
import json, sys
v = json.load(open(sys.argv[1]))["verity"]; print(v["root_hash"], v["hash_offset"])' "$WORK/export.json")
  veritysetup verify "$WORK/export.$type" "$WORK/export.$type" "$root" --hash-offset="$offset" ||
    fail "veritysetup verify of the $type export"
  mount_image "$type" "$WORK/export.$type" "$WORK/mnt/export-$type"
  python3 "$TOOLS/tree_manifest.py" dir "$WORK/mnt/export-$type" >"$WORK/got"
  python3 "$TOOLS/tree_manifest.py" diff --ignore nlink "$WORK/got" "$WORK/want" ||
    fail "the $type verity export differs from the OCI result"
done

# A flipped byte in a blob's data: verify names the blob and says the tree
# does not match; veritysetup agrees.
vmi verify >/dev/null || fail "verify of an intact store"
read -r path _ root _ _ offset _ < <(blobs v:layered | tail -n 1)
digest=$(vmi inspect --json v:layered | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][-1]["digest"])')
chmod u+w "$path"
byte=$(od -An -tu1 -j 5000 -N1 "$path" | tr -d ' ')
printf "\\$(printf '%03o' $(((byte + 1) % 256)))" | dd of="$path" bs=1 seek=5000 conv=notrunc status=none
vmi verify >"$WORK/out" 2>&1 && fail "verify passed a flipped byte"
grep -q "$digest" "$WORK/out" || fail "verify did not name $digest: $(cat "$WORK/out")"
grep -q 'dm-verity root hash' "$WORK/out" || fail "verify did not blame the tree: $(cat "$WORK/out")"
veritysetup verify "$path" "$path" "$root" --hash-offset="$offset" >/dev/null 2>&1 &&
  fail "veritysetup verify passed a flipped byte"
log ok
