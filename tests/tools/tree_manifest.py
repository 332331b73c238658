#!/usr/bin/env python3
"""Canonical manifests of file trees, and the independent OCI reference.

  tree_manifest.py dir PATH
      Walks a mounted tree and prints its manifest.
  tree_manifest.py tar [--mode lower|merged] [--mtime SECONDS] LAYER.tar...
      Applies the OCI layer semantics (image-spec layer.md) to the layer tars
      with python's tarfile, independently of vmimage's C++ code, and prints the
      manifest of
        merged: all layers applied in order, i.e. what an overlayfs stack of
                correct lowers must show (no whiteouts, no trusted.overlay.*);
        lower:  the last layer in overlayfs-lower form, with the layers before it
                as its context (whiteouts as 0:0 char devices, opaque dirs marked
                trusted.overlay.opaque=y; see "lower form" below).
  tree_manifest.py diff [--ignore FIELD]... [--ignore-xattr PREFIX]... A B
      Compares two manifests; prints the differences and exits 1 if any.

A manifest has one line per path, sorted by the path's bytes; "/" is the root.
Fields: type (f d l c b p s), mode (07777 octal), uid, gid, nlink, mtime
(sec.nsec), size and sha256 (files), target (symlinks), rdev (devices),
xattr.NAME (hex value, one field per xattr) and links (non-directories with
several names in the tree: the group's first path, so equal groups compare
equal whatever the inode numbers). Bytes that are not printable ASCII, and the
characters backslash, tab and "=" (in names), are written as \\xNN.

Semantics applied to each layer (the rules vmimage's LayerBuilder documents):
  phase 1, whiteouts against the layers below: DIR/.wh.NAME deletes DIR/NAME;
    DIR/.wh..wh..opq empties DIR; aufs metadata (.wh..wh.* names other than the
    opaque marker, and everything below such a directory) is ignored entirely.
  phase 2, entries in order: missing parents (also of whiteouts) are created
    0755 0:0 mtime 0, replacing a non-directory in the way; a directory entry over
    a directory replaces only its metadata; anything else replaces the node and
    its subtree; a hardlink names the inode of an earlier entry of the same
    layer and takes no metadata of its own; trusted.overlay.* xattrs are dropped.
Lower form of a layer: every path the layer touches (entries, their parents,
  whiteout parents, opaque dirs) with the node phase 2 left there; a directory
  is opaque when the layer has an opaque marker for it, a whiteout of its path,
  or replaced a non-directory of the same layer by it; a whiteout is kept as a
  0:0 char device (mode 0, 0:0, the whiteout entry's mtime) unless the layer
  has that path, a strict ancestor is opaque, or (with context) nothing below
  had the path. overlayfs ignores an opaque lower root, so an opaque root marker
  instead makes the top-level dirs opaque and, with context, whites out the
  lower root's other names (with the marker's mtime).
"""

import argparse
import base64
import errno
import hashlib
import os
import stat
import subprocess
import sys
import tarfile
import urllib.parse

OPAQUE = b".wh..wh..opq"
WH_PREFIX = b".wh."
AUFS_PREFIX = b".wh..wh."
OVERLAY_XATTR = b"trusted.overlay."


def esc(data, extra=b""):
    """Bytes → printable text: printable ASCII kept, the rest as \\xNN."""
    out = []
    for b in data:
        if 0x20 <= b < 0x7F and b != 0x5C and b not in extra:
            out.append(chr(b))
        else:
            out.append("\\x%02x" % b)
    return "".join(out)


# ---------------------------------------------------------------- manifests

FIELD_ORDER = ["type", "mode", "uid", "gid", "nlink", "mtime", "size", "sha256", "target", "rdev"]


def format_record(path, rec):
    fields = [esc(path, b"\t") if path else "/"]
    for key in FIELD_ORDER:
        if key in rec:
            fields.append("%s=%s" % (key, rec[key]))
    for key in sorted(k for k in rec if k.startswith("xattr.")):
        fields.append("%s=%s" % (key, rec[key]))
    if "links" in rec:
        fields.append("links=%s" % rec["links"])
    return "\t".join(fields)


def print_manifest(records, out=sys.stdout):
    for path in sorted(records):
        out.write(format_record(path, records[path]) + "\n")


def mtime_text(sec, nsec):
    return "%d.%09d" % (sec, nsec)


def walk_dir(root):
    """Manifest records of a mounted tree, keyed by relative path bytes."""
    root = os.fsencode(root)
    records = {}
    groups = {}
    stack = [b""]
    while stack:
        rel = stack.pop()
        full = os.path.join(root, rel) if rel else root
        try:
            st = os.lstat(full)
        except OSError as e:
            # overlayfs lists a whiteout it cannot hide (see notes/overlay-whiteouts.md)
            # but fails to stat it: keep it visible as a broken entry.
            records[rel] = {"type": "broken(%s)" % errno.errorcode.get(e.errno, e.errno)}
            continue
        rec = {"mode": "%04o" % stat.S_IMODE(st.st_mode), "uid": str(st.st_uid),
               "gid": str(st.st_gid), "nlink": str(st.st_nlink),
               "mtime": mtime_text(*divmod(st.st_mtime_ns, 10**9))}
        fmt = stat.S_IFMT(st.st_mode)
        if fmt == stat.S_IFDIR:
            rec["type"] = "d"
            for name in sorted(os.listdir(full)):
                stack.append(os.path.join(rel, name) if rel else name)
        elif fmt == stat.S_IFREG:
            rec["type"] = "f"
            rec["size"] = str(st.st_size)
            rec["sha256"] = hash_file(full)
        elif fmt == stat.S_IFLNK:
            rec["type"] = "l"
            rec["target"] = esc(os.readlink(full))
        elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
            rec["type"] = "c" if fmt == stat.S_IFCHR else "b"
            rec["rdev"] = "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))
        elif fmt == stat.S_IFIFO:
            rec["type"] = "p"
        elif fmt == stat.S_IFSOCK:
            rec["type"] = "s"
        for name in os.listxattr(full, follow_symlinks=False):
            bname = os.fsencode(name)
            value = os.getxattr(full, name, follow_symlinks=False)
            rec["xattr." + esc(bname, b"=\t")] = value.hex()
        if fmt != stat.S_IFDIR:
            groups.setdefault((st.st_dev, st.st_ino), []).append(rel)
        records[rel] = rec
    add_link_groups(records, groups.values())
    return records


def add_link_groups(records, groups):
    for paths in groups:
        if len(paths) > 1:
            first = esc(min(paths), b"\t")
            for p in paths:
                records[p]["links"] = first


def hash_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------- tar input

class Entry:
    __slots__ = ("path", "kind", "mode", "uid", "gid", "mtime", "xattrs", "size", "sha256",
                 "target", "rdev")


class TarError(Exception):
    pass


def normalize(raw):
    parts = []
    for part in raw.split(b"/"):
        if part in (b"", b"."):
            continue
        if part == b"..":
            if not parts:
                raise TarError("path %r leaves the root" % raw)
            parts.pop()
            continue
        parts.append(part)
    return b"/".join(parts)


def pax_time(text):
    """libarchive's reading of a pax time: sign on the seconds, 9 fraction digits."""
    sign = 1
    if text.startswith("-"):
        sign, text = -1, text[1:]
    whole, _, frac = text.partition(".")
    digits = ""
    for c in frac:
        if not c.isdigit():
            break
        digits += c
    return sign * int(whole or "0"), int((digits + "000000000")[:9])


def raw(text):
    return text.encode("utf-8", "surrogateescape")


def entry_xattrs(member):
    xattrs = {}
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            xattrs[raw(key[len("SCHILY.xattr."):])] = raw(value)
        elif key.startswith("LIBARCHIVE.xattr."):
            name = urllib.parse.unquote_to_bytes(key[len("LIBARCHIVE.xattr."):])
            xattrs[name] = base64.b64decode(value)
        elif key == "RHT.security.selinux":
            xattrs[b"security.selinux"] = raw(value)
    return {k: v for k, v in xattrs.items() if not k.startswith(OVERLAY_XATTR)}


def open_layer(path):
    """A streaming TarFile over the layer, decompressed by magic bytes."""
    f = open(path, "rb")
    magic = f.read(4)
    f.seek(0)
    kw = {"encoding": "utf-8", "errors": "surrogateescape"}
    if magic[:2] == b"\x1f\x8b":
        return tarfile.open(fileobj=f, mode="r|gz", **kw), None
    if magic == b"\x28\xb5\x2f\xfd":
        proc = subprocess.Popen(["zstd", "-dc"], stdin=f, stdout=subprocess.PIPE)
        return tarfile.open(fileobj=proc.stdout, mode="r|", **kw), proc
    return tarfile.open(fileobj=f, mode="r|", **kw), None


def read_layer(path):
    tf, proc = open_layer(path)
    entries = []
    for m in tf:
        e = Entry()
        e.path = normalize(raw(m.name))
        e.mode = m.mode & 0o7777
        e.uid, e.gid = m.uid, m.gid
        if "mtime" in m.pax_headers:
            e.mtime = pax_time(m.pax_headers["mtime"])
        else:
            e.mtime = (int(m.mtime), 0)
        e.xattrs = entry_xattrs(m)
        e.size, e.sha256, e.target, e.rdev = 0, None, None, None
        if m.islnk():
            e.kind = "h"
            e.target = normalize(raw(m.linkname))
        elif m.isreg():
            e.kind = "f"
            e.size = m.size
            h = hashlib.sha256()
            src = tf.extractfile(m)
            while True:
                chunk = src.read(1 << 20)
                if not chunk:
                    break
                h.update(chunk)
            e.sha256 = h.hexdigest()
        elif m.isdir():
            e.kind = "d"
        elif m.issym():
            e.kind = "l"
            e.target = raw(m.linkname)
        elif m.ischr() or m.isblk():
            e.kind = "c" if m.ischr() else "b"
            e.rdev = (m.devmajor, m.devminor)
        elif m.isfifo():
            e.kind = "p"
        else:
            raise TarError("%s: unsupported member type %r" % (m.name, m.type))
        entries.append(e)
    tf.close()
    if proc is not None and proc.wait() != 0:
        raise TarError("zstd -dc failed for %s" % path)
    return entries


# ---------------------------------------------------------------- OCI model

class Node:
    __slots__ = ("kind", "mode", "uid", "gid", "mtime", "xattrs", "size", "sha256", "target",
                 "rdev", "children")

    def __init__(self, kind, mode=0o755, uid=0, gid=0, mtime=(0, 0)):
        self.kind, self.mode, self.uid, self.gid, self.mtime = kind, mode, uid, gid, mtime
        self.xattrs = {}
        self.size, self.sha256, self.target, self.rdev = 0, None, None, None
        self.children = {} if kind == "d" else None

    def is_dir(self):
        return self.kind == "d"

    def set_meta(self, e):
        self.mode, self.uid, self.gid, self.mtime = e.mode, e.uid, e.gid, e.mtime
        self.xattrs = dict(e.xattrs)


def split(path):
    i = path.rfind(b"/")
    return (b"", path) if i < 0 else (path[:i], path[i + 1:])


def components(path):
    return [p for p in path.split(b"/") if p]


def lookup(root, path):
    node = root
    for part in components(path):
        if node is None or not node.is_dir():
            return None
        node = node.children.get(part)
    return node


def prefixes(path):
    """"" and every ancestor-or-self prefix of path: a/b/c → "", a, a/b, a/b/c."""
    out = [b""]
    parts = components(path)
    for i in range(len(parts)):
        out.append(b"/".join(parts[: i + 1]))
    return out


def whiteout_kind(e):
    d, name = split(e.path)
    if any(part.startswith(AUFS_PREFIX) for part in components(d)):
        return "aufs"
    if not name.startswith(WH_PREFIX):
        return None
    if name == OPAQUE:
        return "opaque"
    if name.startswith(AUFS_PREFIX):
        return "aufs"
    return "whiteout"


class LayerApply:
    """Applies one layer's entries to the merged tree `root` (phase 1 then 2) and
    records what the lower form needs."""

    def __init__(self, root):
        self.root = root
        self.created = set()        # id() of non-directories placed by this layer
        self.touched = {b""}        # paths the layer touches (the root always)
        self.recreated = set()      # dirs that replaced a non-dir of this layer
        self.opaque_markers = {}    # dir path → mtime of its opaque marker
        self.whiteouts = {}         # path → mtime of the last whiteout entry

    def run(self, entries):
        for e in entries:
            kind = whiteout_kind(e)
            d, name = split(e.path)
            if kind == "opaque":
                node = lookup(self.root, d)
                if node is not None and node.is_dir():
                    node.children.clear()
            elif kind == "whiteout":
                parent = lookup(self.root, d)
                if parent is not None and parent.is_dir():
                    parent.children.pop(name[len(WH_PREFIX):], None)
        for e in entries:
            kind = whiteout_kind(e)
            d, name = split(e.path)
            if kind == "aufs":
                continue
            if kind == "opaque":
                self.ensure_dir(d)
                self.opaque_markers[d] = e.mtime
            elif kind == "whiteout":
                self.ensure_dir(d)
                self.whiteouts[(d + b"/" if d else b"") + name[len(WH_PREFIX):]] = e.mtime
            else:
                self.place(e)

    def ensure_dir(self, path):
        node = self.root
        self.touched.add(b"")
        for prefix in prefixes(path)[1:]:
            self.touched.add(prefix)
            name = split(prefix)[1]
            child = node.children.get(name)
            if child is None or not child.is_dir():
                if child is not None and id(child) in self.created:
                    self.recreated.add(prefix)
                child = Node("d")
                node.children[name] = child
            node = child
        return node

    def place(self, e):
        if e.path == b"":
            if e.kind != "d":
                raise TarError("the root can only be a directory")
            self.root.set_meta(e)
            self.touched.add(b"")
            return
        d, name = split(e.path)
        parent = self.ensure_dir(d)
        self.touched.add(e.path)
        existing = parent.children.get(name)
        if e.kind == "h":
            target = lookup(self.root, e.target)
            if target is None or id(target) not in self.created:
                raise TarError("hardlink %r: target %r is not an earlier entry" % (e.path, e.target))
            parent.children[name] = target
            return
        if e.kind == "d" and existing is not None and existing.is_dir():
            existing.set_meta(e)
            return
        if e.kind == "d" and existing is not None and id(existing) in self.created:
            self.recreated.add(e.path)
        node = Node(e.kind)
        node.set_meta(e)
        node.size, node.sha256, node.target, node.rdev = e.size, e.sha256, e.target, e.rdev
        if e.kind != "d":
            self.created.add(id(node))
        parent.children[name] = node


def lower_form(applied, merged, below_root_names, existed_below, with_context):
    """The layer's lower-form tree, from the merged tree after the layer."""
    copies = {}
    lroot = None
    for path in sorted(applied.touched, key=lambda p: (p.count(b"/") if p else -1, p)):
        node = lookup(merged, path)
        if node is None:
            continue
        if path != b"":
            parent = lookup(lroot, split(path)[0])
            if parent is None or not parent.is_dir():
                continue
        copy = copies.get(id(node))
        if copy is None:
            copy = Node(node.kind, node.mode, node.uid, node.gid, node.mtime)
            copy.xattrs = dict(node.xattrs)
            copy.size, copy.sha256, copy.target, copy.rdev = node.size, node.sha256, node.target, node.rdev
            copies[id(node)] = copy
        if path == b"":
            lroot = copy
        else:
            parent.children[split(path)[1]] = copy
    opaque = set(applied.opaque_markers) | set(applied.whiteouts) | applied.recreated
    whiteouts = dict(applied.whiteouts)
    if b"" in applied.opaque_markers:
        # overlayfs ignores an opaque lower root: opaque top-level dirs instead,
        # and (knowing the layers below) whiteouts of the other lower root names.
        opaque.discard(b"")
        opaque |= {name for name, n in lroot.children.items() if n.is_dir()}
        if with_context:
            for name in below_root_names:
                if name not in lroot.children and name not in whiteouts:
                    whiteouts[name] = applied.opaque_markers[b""]
                    existed_below[name] = True
    for path in opaque:
        node = lookup(lroot, path)
        if node is not None and node.is_dir():
            node.xattrs[b"trusted.overlay.opaque"] = b"y"
    for path, mtime in sorted(whiteouts.items()):
        d, name = split(path)
        parent = lookup(lroot, d)
        if parent is None or not parent.is_dir() or name in parent.children:
            continue
        if any(b"trusted.overlay.opaque" in lookup(lroot, p).xattrs for p in prefixes(d)):
            continue
        if with_context and not existed_below[path]:
            continue
        wh = Node("c", 0, 0, 0, mtime)
        wh.rdev = (0, 0)
        parent.children[name] = wh
    return lroot


def tree_records(root, mtime_override=None):
    records = {}
    groups = {}
    stack = [(b"", root)]
    names = {}
    while stack:
        path, node = stack.pop()
        if not node.is_dir():
            names.setdefault(id(node), []).append(path)
        for name, child in node.children.items() if node.is_dir() else ():
            stack.append(((path + b"/" if path else b"") + name, child))
        records[path] = node
    out = {}
    for path, node in records.items():
        mtime = (mtime_override, 0) if mtime_override is not None else node.mtime
        rec = {"type": node.kind, "mode": "%04o" % node.mode, "uid": str(node.uid),
               "gid": str(node.gid), "mtime": mtime_text(*mtime)}
        if node.is_dir():
            rec["nlink"] = str(2 + sum(1 for c in node.children.values() if c.is_dir()))
        else:
            rec["nlink"] = str(len(names[id(node)]))
        if node.kind == "f":
            rec["size"], rec["sha256"] = str(node.size), node.sha256
        if node.kind == "l":
            rec["target"] = esc(node.target)
        if node.kind in ("c", "b"):
            rec["rdev"] = "%d:%d" % node.rdev
        for name, value in node.xattrs.items():
            rec["xattr." + esc(name, b"=\t")] = value.hex()
        out[path] = rec
        if not node.is_dir():
            groups[id(node)] = names[id(node)]
    add_link_groups(out, groups.values())
    return out


def reference(layers, mode, mtime):
    merged = Node("d")
    result = None
    for i, layer in enumerate(layers):
        entries = read_layer(layer)
        last = i == len(layers) - 1
        existed = {}
        below_root_names = set(merged.children)
        if last and mode == "lower":
            for e in entries:
                if whiteout_kind(e) == "whiteout":
                    d, name = split(e.path)
                    p = (d + b"/" if d else b"") + name[len(WH_PREFIX):]
                    existed[p] = lookup(merged, p) is not None
        applied = LayerApply(merged)
        applied.run(entries)
        if last and mode == "lower":
            result = lower_form(applied, merged, below_root_names, existed,
                                with_context=len(layers) > 1)
    if mode == "merged":
        result = merged
    return tree_records(result, mtime)


# ---------------------------------------------------------------- diff

def parse_manifest(path):
    records = {}
    with open(path, encoding="ascii") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            rec = {}
            for field in fields[1:]:
                key, _, value = field.partition("=")
                rec[key] = value
            records[fields[0]] = rec
    return records


def diff(a_path, b_path, ignore, ignore_xattr):
    a, b = parse_manifest(a_path), parse_manifest(b_path)

    def keep(key):
        if key in ignore:
            return False
        if key.startswith("xattr.") and any(key[6:].startswith(p) for p in ignore_xattr):
            return False
        return True

    problems = []
    for path in sorted(set(a) | set(b)):
        if path not in b:
            problems.append("only in %s: %s" % (a_path, path))
            continue
        if path not in a:
            problems.append("only in %s: %s" % (b_path, path))
            continue
        for key in sorted(set(a[path]) | set(b[path])):
            if keep(key) and a[path].get(key) != b[path].get(key):
                problems.append("%s: %s: %s vs %s" % (path, key, a[path].get(key, "(none)"),
                                                      b[path].get(key, "(none)")))
    for p in problems:
        print(p)
    if problems:
        print("%d difference(s) between %s and %s" % (len(problems), a_path, b_path))
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dir", help="manifest of a mounted tree")
    d.add_argument("path")
    t = sub.add_parser("tar", help="reference manifest of layer tars")
    t.add_argument("--mode", choices=["lower", "merged"], default="lower")
    t.add_argument("--mtime", type=int, default=None, help="override every mtime (nsec 0)")
    t.add_argument("layers", nargs="+")
    c = sub.add_parser("diff", help="compare two manifests")
    c.add_argument("--ignore", action="append", default=[],
                   help="field to skip, e.g. nlink (overlayfs reports 1 for merged dirs and "
                        "counts names hidden by upper layers)")
    c.add_argument("--ignore-xattr", action="append", default=[],
                   help="xattr name prefix to skip, e.g. security.selinux on hosts with LSMs")
    c.add_argument("a")
    c.add_argument("b")
    args = ap.parse_args()
    if args.cmd == "dir":
        print_manifest(walk_dir(args.path))
    elif args.cmd == "tar":
        try:
            print_manifest(reference(args.layers, args.mode, args.mtime))
        except (TarError, tarfile.TarError) as e:
            print("tree_manifest: %s" % e, file=sys.stderr)
            return 2
    else:
        return diff(args.a, args.b, set(args.ignore), args.ignore_xattr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
