#!/usr/bin/env bash
# Benchmark (not part of ctest): one layer tar to an ext4 image, two ways, in
# one run on a scratch filesystem:
#   vmimage mkfs --type ext4 LAYER.tar OUT                  (streams, no extraction)
#   tar -x LAYER.tar -C DIR && mke2fs -t ext4 -d DIR OUT SIZE  (the usual way)
# Both images get the same size (vmimage's automatic one), are checked with
# e2fsck -fn and compared mounted with tests/tools/tree_manifest.py.
#
# Usage: sudo bench/ext4_vs_mke2fs.sh [LAYER.tar]
#   Without a tar, a synthetic layer is generated (FILES files, default 30000,
#   sizes spread from 0 to 1 MiB, symlinks and hardlinks; fixed seed).
#   VMIMAGE (default: build/vmimage), SCRATCH_SIZE (default 16G), KEEP=1 keeps the work dir.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
VMIMAGE=${VMIMAGE:-$root/build/vmimage}
FILES=${FILES:-30000}
[[ $(id -u) -eq 0 ]] || { echo "needs root (scratch filesystem, mounts)" >&2; exit 1; }
[[ -x $VMIMAGE ]] || { echo "no vmimage at $VMIMAGE (scripts/build)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/vmimage-bench.XXXXXX")
mounts=()
loops=()
cleanup() {
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" || true; done
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  [[ -n ${KEEP:-} ]] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

# A journaled scratch ext4, so the results do not depend on the host's filesystem.
truncate -s "${SCRATCH_SIZE:-16G}" "$WORK/scratch.img"
mkfs.ext4 -q -F -E nodiscard "$WORK/scratch.img"
loop=$(losetup --find --show "$WORK/scratch.img"); loops+=("$loop")
S=$WORK/scratch
mkdir -p "$S"; mount "$loop" "$S"; mounts+=("$S")

tar=${1:-}
if [[ -z $tar ]]; then
  tar=$S/layer.tar
  python3 - "$tar" "$FILES" <<'PY'
import io, random, sys, tarfile
out, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
    def add(name, kind, data=b"", mode=0o644, link=""):
        ti = tarfile.TarInfo(name); ti.type = kind; ti.mode = mode; ti.mtime = 1600000000
        ti.size = len(data) if kind == tarfile.REGTYPE else 0; ti.linkname = link
        tf.addfile(ti, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    dirs = ["usr/share/d%03d" % i for i in range(max(1, n // 150))]
    add("usr", tarfile.DIRTYPE, mode=0o755); add("usr/share", tarfile.DIRTYPE, mode=0o755)
    for d in dirs: add(d, tarfile.DIRTYPE, mode=0o755)
    last_file = None
    for i in range(n):
        d = rng.choice(dirs); name = "%s/f%06d" % (d, i)
        r = rng.random()
        if r < 0.05:
            add(name, tarfile.SYMTYPE, mode=0o777, link="../f%06d" % rng.randrange(n))
        elif r < 0.07 and last_file:
            add(name, tarfile.LNKTYPE, link=last_file)
        else:
            # Half random, half zeros: compressible-looking data with zero tails.
            size = int(min(1 << 20, rng.expovariate(1 / 24000)))
            add(name, tarfile.REGTYPE, rng.randbytes(size // 2) + bytes(size - size // 2))
            last_file = name
PY
fi
tar_bytes=$(stat -c %s "$tar")
cat "$tar" >/dev/null  # both runs start with the tar in the page cache

# timed NAME CMD...: wall, user and system seconds into $WORK/NAME.time.
timed() {
  local name=$1
  shift
  sync
  /usr/bin/time -f "%e %U %S" -o "$WORK/$name.time" "$@"
}
# seconds NAME...: "wall s (cpu s)" summed over the named runs.
seconds() {
  cat "${@/#/$WORK/}" | awk '{w += $1; c += $2 + $3} END {printf "%6.2f s wall %6.2f s cpu", w, c}'
}

timed vmimage "$VMIMAGE" --json mkfs --type ext4 "$tar" "$S/vmimage.ext4" >"$WORK/vmimage.json"
size=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["image_bytes"])' "$WORK/vmimage.json")

mkdir "$S/extract"
# --delay-directory-restore: entries arrive in any order, so directory times
# are only final once everything is extracted.
timed tar tar -xf "$tar" -C "$S/extract" --numeric-owner --xattrs --xattrs-include='*' -p \
  --delay-directory-restore
truncate -s "$size" "$S/mke2fs.ext4"
timed mke2fs mke2fs -q -F -t ext4 -E nodiscard -d "$S/extract" "$S/mke2fs.ext4"

e2fsck -fn "$S/vmimage.ext4" >/dev/null 2>&1 && v_fsck=clean || v_fsck=ERRORS
e2fsck -fn "$S/mke2fs.ext4" >/dev/null 2>&1 && m_fsck=clean || m_fsck=ERRORS
for which in vmimage mke2fs; do
  mkdir -p "$WORK/mnt-$which"
  mount -o loop,ro "$S/$which.ext4" "$WORK/mnt-$which"; mounts+=("$WORK/mnt-$which")
  # The root (mke2fs takes the extraction dir's times and adds lost+found) and
  # lost+found differ by construction; every other entry must match.
  python3 "$root/tests/tools/tree_manifest.py" dir "$WORK/mnt-$which" |
    grep -v -e $'^/\t' -e '^lost+found' >"$WORK/$which.manifest"
done
if python3 "$root/tests/tools/tree_manifest.py" diff "$WORK/vmimage.manifest" "$WORK/mke2fs.manifest" \
  >"$WORK/diff" 2>&1; then
  same=yes
else
  same="no: $(head -3 "$WORK/diff" | tr '\n' ' ')"
fi

entries=$(wc -l <"$WORK/vmimage.manifest")
printf '\nlayer: %s, %d bytes, %d paths\n' "$tar" "$tar_bytes" "$entries"
printf '%-28s %s   image %s bytes, %s KiB on disk, fsck %s\n' "vmimage mkfs --type ext4" \
  "$(seconds vmimage.time)" "$size" "$(du -k "$S/vmimage.ext4" | cut -f1)" "$v_fsck"
printf '%-28s %s\n' "tar -x" "$(seconds tar.time)"
printf '%-28s %s   image %s bytes, %s KiB on disk, fsck %s\n' "mke2fs -t ext4 -d" \
  "$(seconds mke2fs.time)" "$(stat -c %s "$S/mke2fs.ext4")" "$(du -k "$S/mke2fs.ext4" | cut -f1)" \
  "$m_fsck"
printf '%-28s %s\n' "tar -x + mke2fs -d" "$(seconds tar.time mke2fs.time)"
printf 'load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'same tree (root entry aside): %s\n' "$same"
