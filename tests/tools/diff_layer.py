#!/usr/bin/env python3
"""Writes the OCI layer changeset that turns OLD_DIR into NEW_DIR, as a PAX tar
on stdout (image-spec layer.md, "Changesets" and "Whiteouts").

  diff_layer.py OLD_DIR NEW_DIR [--opaque REL_DIR]... > layer.tar

A path of NEW is in the layer when it is new or differs from OLD in type, mode,
uid, gid, mtime (ns), size, content, symlink target, rdev, xattrs, or in the
set of names its inode has (so hardlink groups come out whole); its parent
directories come with it. A path of OLD missing from NEW gets a whiteout
PARENT/.wh.NAME (only the topmost missing path; a path whose parent became a
non-directory needs none: the new entry replaces the subtree). A directory
given with --opaque gets PARENT/DIR/.wh..wh..opq and all of its NEW content,
and no whiteouts below it. With an empty OLD_DIR the result is a full layer.
Entries come in sorted pre-order (in a directory: the opaque marker, then the
whiteouts, then the children, as the spec recommends), with numeric owners,
SCHILY.xattr.* records, a PAX mtime when it has nanoseconds, and hardlinks
as links to the first name of the group in the layer. The root directory's
own metadata is never written (as in layers made by docker build). Sockets
cannot be put in a tar: they are left out, with a warning.
"""
import argparse
import os
import stat
import sys
import tarfile

WH = b".wh."
OPAQUE = b".wh..wh..opq"
CHUNK = 1 << 20


def scan(root):
    """{rel path bytes: os.stat_result} of every path below root (not root)."""
    out = {}
    stack = [b""]
    while stack:
        rel = stack.pop()
        for name in os.listdir(os.path.join(root, rel) if rel else root):
            if name.startswith(WH):
                sys.exit("diff_layer: %r: names starting with .wh. cannot be put in a layer"
                         % os.path.join(rel, name))
            path = os.path.join(rel, name) if rel else name
            st = os.lstat(os.path.join(root, path))
            out[path] = st
            if stat.S_ISDIR(st.st_mode):
                stack.append(path)
    return out


def xattrs(path):
    return {n: os.getxattr(path, n, follow_symlinks=False)
            for n in sorted(os.listxattr(path, follow_symlinks=False))}


def link_groups(tree):
    """{rel: tuple of the names of its inode} for non-directories."""
    by_inode = {}
    for rel, st in tree.items():
        if not stat.S_ISDIR(st.st_mode):
            by_inode.setdefault((st.st_dev, st.st_ino), []).append(rel)
    return {rel: tuple(sorted(names)) for names in by_inode.values() for rel in names}


def same_content(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            ca, cb = fa.read(CHUNK), fb.read(CHUNK)
            if ca != cb:
                return False
            if not ca:
                return True


def changed(old_root, new_root, rel, o, n):
    fields = ("st_mode", "st_uid", "st_gid", "st_mtime_ns", "st_rdev")
    if any(getattr(o, f) != getattr(n, f) for f in fields):
        return True
    # A directory's size is the file system's business (ext4 never shrinks one).
    if not stat.S_ISDIR(n.st_mode) and o.st_size != n.st_size:
        return True
    old, new = os.path.join(old_root, rel), os.path.join(new_root, rel)
    if xattrs(old) != xattrs(new):
        return True
    if stat.S_ISLNK(n.st_mode):
        return os.readlink(old) != os.readlink(new)
    return stat.S_ISREG(n.st_mode) and not same_content(old, new)


def parents(rel):
    while True:
        rel = os.path.dirname(rel)
        if not rel:
            return
        yield rel


def plan(old_root, new_root, opaque):
    """The NEW paths to write, and the whiteout and opaque-marker paths."""
    old, new = scan(old_root), scan(new_root)
    old_links, new_links = link_groups(old), link_groups(new)

    def under_opaque(rel):
        return any(rel == d or rel.startswith(d + b"/") for d in opaque)

    include = set()
    for rel, n in new.items():
        o = old.get(rel)
        if (o is None or under_opaque(rel) or changed(old_root, new_root, rel, o, n)
                or old_links.get(rel, (rel,)) != new_links.get(rel, (rel,))):
            include.add(rel)
    # A name of a hardlink group written alone would split the group.
    include |= {m for rel in list(include) for m in new_links.get(rel, ())}
    whiteouts = set()
    for rel in old:
        parent = os.path.dirname(rel)
        if rel in new or under_opaque(parent):
            continue
        if parent and not (parent in new and stat.S_ISDIR(new[parent].st_mode)):
            continue  # the parent is gone or replaced: covered higher up
        whiteouts.add(os.path.join(parent, WH + os.path.basename(rel)))
    markers = {os.path.join(d, OPAQUE) for d in opaque}
    for rel in list(include) + list(whiteouts) + list(markers):
        include.update(parents(rel))
    return new, sorted(include - whiteouts - markers, key=sort_key), whiteouts, markers


def sort_key(rel):
    """Pre-order: a directory, then its opaque marker, whiteouts, children."""
    parts = rel.split(b"/")
    key = [(2, p) for p in parts[:-1]]
    last = parts[-1]
    rank = 0 if last == OPAQUE else 1 if last.startswith(WH) else 2
    return key + [(rank, last)]


def tar_info(rel, st, full):
    info = tarfile.TarInfo(os.fsdecode(rel))
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid, info.uname, info.gname = st.st_uid, st.st_gid, "", ""
    sec, nsec = divmod(st.st_mtime_ns, 10**9)
    info.mtime = sec
    if nsec:
        info.pax_headers["mtime"] = "%d.%09d" % (sec, nsec)
    for name, value in xattrs(full).items():
        # Raw bytes survive as surrogates: tarfile writes them back as bytes.
        info.pax_headers["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    fmt = stat.S_IFMT(st.st_mode)
    if fmt == stat.S_IFREG:
        info.type, info.size = tarfile.REGTYPE, st.st_size
    elif fmt == stat.S_IFDIR:
        info.type = tarfile.DIRTYPE
    elif fmt == stat.S_IFLNK:
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(full).decode("utf-8", "surrogateescape")
    elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
        info.type = tarfile.CHRTYPE if fmt == stat.S_IFCHR else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif fmt == stat.S_IFIFO:
        info.type = tarfile.FIFOTYPE
    else:
        return None
    return info


def marker_info(rel, parent_st):
    """A whiteout or opaque marker: an empty file, dated like its directory."""
    info = tarfile.TarInfo(os.fsdecode(rel))
    info.mode, info.uname, info.gname = 0o644, "", ""
    info.mtime = parent_st.st_mtime_ns // 10**9 if parent_st else 0
    return info


def write(new_root, new, paths, whiteouts, markers, out):
    tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT,
                       encoding="utf-8", errors="surrogateescape")
    first_name = {}  # (dev, inode) → first path written
    for rel in sorted(set(paths) | whiteouts | markers, key=sort_key):
        if rel in whiteouts or rel in markers:
            tar.addfile(marker_info(rel, new.get(os.path.dirname(rel))))
            continue
        st, full = new[rel], os.path.join(new_root, rel)
        info = tar_info(rel, st, full)
        if info is None:
            print("diff_layer: %s: socket left out" % os.fsdecode(rel), file=sys.stderr)
            continue
        if info.type == tarfile.REGTYPE and st.st_nlink > 1:
            inode = (st.st_dev, st.st_ino)
            if inode in first_name:
                info.type, info.size = tarfile.LNKTYPE, 0
                info.linkname = os.fsdecode(first_name[inode])
                tar.addfile(info)
                continue
            first_name[inode] = rel
        if info.type == tarfile.REGTYPE:
            with open(full, "rb") as f:
                tar.addfile(info, f)
        else:
            tar.addfile(info)
    tar.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--opaque", action="append", default=[], help="directory, relative to NEW")
    a = ap.parse_args()
    opaque = {os.fsencode(d.strip("/")) for d in a.opaque}
    old_root, new_root = os.fsencode(a.old), os.fsencode(a.new)
    new, paths, whiteouts, markers = plan(old_root, new_root, opaque)
    for d in opaque:
        if d not in new or not stat.S_ISDIR(new[d].st_mode):
            sys.exit("diff_layer: --opaque %s is not a directory of NEW" % os.fsdecode(d))
    write(new_root, new, paths, whiteouts, markers, sys.stdout.buffer)


if __name__ == "__main__":
    main()
