#!/usr/bin/env bash
# One engine: the same layer over the same lowers gives the same bytes whether
# it went through `vmimage mkfs` or into the store by import (EROFS, and ext4
# with --fs ext4), and `mkfs --lower` takes the images below in either
# filesystem with the same result.
source "$VMIMAGE_SOURCE_DIR/tests/integration/lib.sh"
cache="$WORK/cache"
vmi() { "$VMIMAGE" --cache-dir "$cache" "$@"; }

python3 - "$WORK" <<'PY'
import io, sys, tarfile
work = sys.argv[1]
def layer(name, members):
    with tarfile.open("%s/%s.tar" % (work, name), "w", format=tarfile.PAX_FORMAT) as t:
        for path, kind, data, extra in members:
            ti = tarfile.TarInfo(path)
            ti.mtime = 1700000000 + len(path)
            ti.type = kind
            ti.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            ti.size = len(data)
            ti.uid, ti.gid = extra.get("ids", (0, 0))
            ti.pax_headers = extra.get("pax", {})
            t.addfile(ti, io.BytesIO(data))
F, D = tarfile.REGTYPE, tarfile.DIRTYPE
layer("base", [(".", D, b"", {}), ("etc", D, b"", {"ids": (0, 0)}),
               ("etc/conf", F, b"c" * 5000, {"pax": {"SCHILY.xattr.user.k": "v"}}),
               ("srv", D, b"", {"ids": (1000, 1000)}), ("srv/old", F, b"old", {}),
               ("srv/data", F, bytes(9000) + b"tail", {})])
# Implied directories (srv/app) that keep srv's metadata from below, and whiteouts.
layer("top", [("srv/app/run", F, b"#!/bin/sh\n", {}), ("srv/.wh.old", F, b"", {}),
              ("etc/.wh..wh..opq", F, b"", {}), ("etc/new", F, b"n", {})])
PY
gzip -nc "$WORK/base.tar" >"$WORK/base.tar.gz"
gzip -nc "$WORK/top.tar" >"$WORK/top.tar.gz"
python3 "$TOOLS/pack_image.py" "$WORK/layout" img "$WORK/base.tar.gz" "$WORK/top.tar.gz" \
  --compress gzipped >/dev/null

# canonical IMAGE I / runtime IMAGE I: the path of a stored blob.
blob() {
  vmi inspect "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]][int(sys.argv[2])]["path"])' "$1" "$3"
}

log "EROFS: mkfs and the store agree"
"$VMIMAGE" -q mkfs "$WORK/base.tar" "$WORK/base.erofs"
"$VMIMAGE" -q mkfs --lower "$WORK/base.erofs" "$WORK/top.tar" "$WORK/top.erofs"
vmi -q import --layout layered img:v1 "$WORK/layout" >/dev/null
cmp "$WORK/base.erofs" "$(blob canonical_layers img:v1 0)" || fail "base layer: mkfs and store differ"
cmp "$WORK/top.erofs" "$(blob canonical_layers img:v1 1)" || fail "top layer: mkfs and store differ"

log "ext4: mkfs (with an ext4 lower) and the store's --fs ext4 lowers agree"
"$VMIMAGE" -q mkfs --type ext4 "$WORK/base.tar" "$WORK/base.ext4"
"$VMIMAGE" -q mkfs --type ext4 --lower "$WORK/base.ext4" "$WORK/top.tar" "$WORK/top.ext4"
"$VMIMAGE" -q mkfs --type ext4 --lower "$WORK/base.erofs" "$WORK/top.tar" "$WORK/top-over-erofs.ext4"
cmp "$WORK/top.ext4" "$WORK/top-over-erofs.ext4" || fail "--lower: an ext4 and an EROFS lower differ"
vmi -q import --fs ext4 --layout layered img-ext4:v1 "$WORK/layout" >/dev/null
cmp "$WORK/base.ext4" "$(blob layers img-ext4:v1 0)" || fail "base layer: ext4 mkfs and store differ"
cmp "$WORK/top.ext4" "$(blob layers img-ext4:v1 1)" || fail "top layer: ext4 mkfs and store differ"
e2fsck -fn "$WORK/top.ext4" >/dev/null 2>&1 || fail "e2fsck of the top ext4 layer"

log "the same layer over different lowers differs (the lowers shape it)"
"$VMIMAGE" -q mkfs "$WORK/top.tar" "$WORK/top-alone.erofs"
cmp -s "$WORK/top.erofs" "$WORK/top-alone.erofs" && fail "the lower made no difference"
echo PASS
