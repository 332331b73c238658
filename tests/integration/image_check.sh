# check_image: mount an image's lowers as a VM would and compare the tree with a
# reference manifest (source after lib.sh; needs vmi() and json_get defined).
declare -F json_get >/dev/null || json_get() {
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print("\n".join(map(str, v)) if isinstance(v, list) else v)' "$1" "$2"
}

# check_image REF NAME WANT: mounts the image's lowers (overlayfs when several)
# and compares the tree with the manifest WANT; sets LOWER_COUNT. Call it in the
# test's own shell (not in $(...)): its mounts must reach the EXIT trap.
check_image() {
  local ref=$1 name=$2 want=$3
  vmi --json inspect "$ref" >"$WORK/$name.json" || fail "$name: inspect failed"
  mapfile -t lowers < <(json_get "$WORK/$name.json" 'd["lower_paths"]')
  [[ ${#lowers[@]} -ge 1 ]] || fail "$name: no lowers"
  mapfile -t types < <(json_get "$WORK/$name.json" 'd["lower_fs_types"]')
  local mounts=() i=0
  for img in "${lowers[@]}"; do
    [[ "$img" == /* && -f "$img" ]] || fail "$name: lower $img is not an absolute file path"
    case ${types[i]} in
      erofs) if fsck.erofs "$img" 2>&1 | grep -q '<E>'; then fail "$name: fsck.erofs rejects $img"; fi ;;
      ext4) e2fsck -fn "$img" >/dev/null 2>&1 || fail "$name: e2fsck rejects $img" ;;
      *) fail "$name: unknown lower type ${types[i]}" ;;
    esac
    mount_image "${types[i]}" "$img" "$WORK/mnt/$name-$i"
    mounts=("$WORK/mnt/$name-$i" "${mounts[@]}")
    i=$((i + 1))
  done
  local root=${mounts[0]}
  if [[ ${#mounts[@]} -gt 1 ]]; then
    root="$WORK/ovl/$name"
    mount_overlay "$root" "$(IFS=:; echo "${mounts[*]}")"
  fi
  python3 "$TOOLS/tree_manifest.py" dir "$root" >"$WORK/$name.got"
  # overlayfs reports nlink 1 for merged directories; a single lower is exact.
  local ignore=()
  [[ ${#mounts[@]} -gt 1 ]] && ignore=(--ignore nlink)
  python3 "$TOOLS/tree_manifest.py" diff "${ignore[@]}" "$WORK/$name.got" "$want" ||
    fail "$name: the mounted image differs from the OCI result"
  LOWER_COUNT=${#lowers[@]}
}

