#!/usr/bin/env python3
"""Generates the layer tars the mkfs tests convert (python3 stdlib + GNU tar).

  make_layers.py all OUTDIR
      OUTDIR/single/*.tar     one-layer cases (every item of issue 2)
      OUTDIR/stacks/NAME/N.tar  multi-layer stacks, base first (1.tar, 2.tar, ...)
      OUTDIR/bad/*            inputs vmimage mkfs must reject
  make_layers.py stream-big SIZE [--sha256-out FILE]
      writes to stdout a tar with one dense SIZE-byte file ("big/dense": 1 MiB
      blocks, each starting with its index; generated on the fly, nothing is held
      in memory or on disk).
  make_layers.py many FILES MBYTES
      writes to stdout a realistic layer: FILES files (most small, a few large,
      text-like and binary content) spread over nested directories, about MBYTES
      MB in total. For benchmarks.
  make_layers.py check-big FILE SIZE
      checks a file holds what stream-big wrote: its size, and the first, last
      and some middle blocks byte for byte.

Everything is deterministic: fixed seeds, fixed mtimes.
"""

import argparse
import hashlib
import io
import os
import random
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile

T0 = 1600000000
CAP_NET_RAW = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)  # vfs_cap_data v2, effective


class Layer:
    """A tar under construction with python's tarfile (PAX unless told)."""

    def __init__(self, path, fmt=tarfile.PAX_FORMAT):
        self.tf = tarfile.open(path, "w", format=fmt, encoding="utf-8", errors="surrogateescape")

    def _info(self, name, kind, mode, uid=0, gid=0, mtime=T0, pax=None):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kind, mode, uid, gid, mtime
        ti.uname = ti.gname = ""
        if pax:
            ti.pax_headers = dict(pax)
        return ti

    def file(self, name, data=b"", mode=0o644, **kw):
        ti = self._info(name, tarfile.REGTYPE, mode, **kw)
        ti.size = len(data)
        self.tf.addfile(ti, io.BytesIO(data))

    def dir(self, name, mode=0o755, **kw):
        self.tf.addfile(self._info(name, tarfile.DIRTYPE, mode, **kw))

    def symlink(self, name, target, mode=0o777, **kw):
        ti = self._info(name, tarfile.SYMTYPE, mode, **kw)
        ti.linkname = target
        self.tf.addfile(ti)

    def hardlink(self, name, target, **kw):
        ti = self._info(name, tarfile.LNKTYPE, 0o644, **kw)
        ti.linkname = target
        self.tf.addfile(ti)

    def device(self, name, kind, major, minor, mode=0o600, **kw):
        ti = self._info(name, tarfile.CHRTYPE if kind == "c" else tarfile.BLKTYPE, mode, **kw)
        ti.devmajor, ti.devminor = major, minor
        self.tf.addfile(ti)

    def fifo(self, name, mode=0o644, **kw):
        self.tf.addfile(self._info(name, tarfile.FIFOTYPE, mode, **kw))

    def whiteout(self, name, **kw):
        self.file(name, b"", mode=0o644, **kw)

    def close(self):
        self.tf.close()


def data(seed, size):
    return random.Random(seed).randbytes(size)


def raw(b):
    return b.decode("utf-8", "surrogateescape")


# ---------------------------------------------------------------- single layers

def layer_types(path):
    """Every file type, permissions, owners, times, xattrs, hardlinks, sizes."""
    t = Layer(path)
    t.dir("bin", 0o755)
    t.file("bin/ping", data(1, 3000), 0o4755,
           pax={"SCHILY.xattr.security.capability": raw(CAP_NET_RAW)})
    t.file("bin/all-bits", b"#!/bin/sh\n", 0o7777)
    t.file("usr/bin/wall", data(2, 100), 0o2755, gid=5)
    t.dir("tmp", 0o1777)
    t.dir("home/user", 0o700, uid=1000, gid=1000, pax={"SCHILY.xattr.user.home": "yes"})
    t.file("home/user/big-ids", b"ids", uid=4000000000, gid=4294967294)
    t.file("home/user/nobody", b"n", uid=65534, gid=65534)
    t.file("times/nsec", b"t", pax={"mtime": "1700000000.123456789"})
    t.file("times/frac", b"t", pax={"mtime": "1700000001.5"})
    t.file("times/future", b"t", mtime=4102444800)
    t.file("times/epoch", b"t", mtime=0)
    t.file("times/before-epoch", b"t", mtime=-86400)
    t.dir("times", 0o755, pax={"mtime": "1650000000.000000001"})
    xattrs = {"SCHILY.xattr.user.a": "1", "SCHILY.xattr.user.empty": "",
              "SCHILY.xattr.user.long": "v" * 300, "SCHILY.xattr.trusted.marker": "t",
              "SCHILY.xattr.user.bin": raw(b"\x00\x01\xfe\xff\n=")}
    for i in range(8):
        xattrs["SCHILY.xattr.user.many%02d" % i] = "value-%d" % i
    t.file("xattrs/file", b"x", pax=xattrs)
    t.dir("xattrs/dir", pax={"SCHILY.xattr.user.d": "dir", "SCHILY.xattr.trusted.d": "td"})
    t.symlink("xattrs/link", "file", pax={"SCHILY.xattr.trusted.l": "on-a-symlink"})
    # libarchive's own convention: url-encoded name, base64 value.
    t.file("xattrs/libarchive", b"la", pax={"LIBARCHIVE.xattr.user.la%3Dname": "AAEC/w==",
                                            "LIBARCHIVE.xattr.security.capability":
                                                "AQAAAgAgAAAAAAAAAAAAAAAAAAA="})
    t.symlink("links/relative", "../etc/passwd")
    t.symlink("links/dangling", "/does/not/exist")
    t.symlink("links/long-target", "/" + "/".join(["t" * 60] * 6))
    t.symlink("links/self", "self")
    t.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    t.hardlink("etc/passwd.bak", "etc/passwd")
    t.hardlink("usr/share/passwd-copy", "etc/passwd")
    t.hardlink("links/to-symlink", "links/dangling")
    t.device("dev/null", "c", 1, 3, 0o666)
    t.device("dev/sda", "b", 8, 0, 0o660, gid=6)
    t.device("dev/wide", "c", 259, 1000000)
    t.device("dev/loop7", "b", 7, 7)
    t.fifo("run/fifo", 0o600)
    for size in (0, 1, 100, 4095, 4096, 4097, 8191, 65536 + 7, 1 << 20, 3 * (1 << 20) + 17):
        t.file("sizes/%d" % size, data(size, size))
    t.file("sizes/zeros", bytes(20000))
    for i in range(400):
        t.file("many/%s-%03d" % ("n" * (i % 40), i), b"%d" % i)
    t.close()


def layer_names(path):
    """Name forms: long, PAX and prefix-split, odd bytes, normalization."""
    t = Layer(path)
    t.dir("./", 0o750, mtime=T0 + 5, pax={"mtime": "1600000005.5"})
    t.file("./dot-slash", b"1")
    t.file("/absolute", b"2")
    t.file("dir//double///slash", b"3")
    t.file("x/./y/../z", b"4")
    t.file("long/" + "x" * 150 + "/" + "y" * 120, b"5")
    c255 = "c" * 255
    t.file("c255/" + c255, b"6")
    t.dir("c255/" + "d" * 255)
    t.file("c255/" + "d" * 255 + "/" + "f" * 255, b"7")
    t.file("/".join(["deep%03d" % i + "d" * 90 for i in range(12)]) + "/leaf", b"8")
    t.file(raw(b"latin1-\xe9\xe8\xff"), b"9")
    t.dir(raw(b"latin1-dir-\xe0"))
    t.file(raw(b"latin1-dir-\xe0/inner-\xf1"), b"10")
    t.symlink("link-to-latin1", raw(b"latin1-\xe9\xe8\xff"))
    t.file("ünïcødé-名前", b"11")
    t.file("tab\there", b"12")
    t.file("new\nline", b"13")
    t.file("back\\slash = equals", b"14")
    t.file(" leading space", b"15")
    t.close()
    u = Layer(path.replace(".tar", "-ustar.tar"), tarfile.USTAR_FORMAT)
    # A 192-byte path: ustar splits it into prefix and name.
    u.file("p" * 60 + "/" + "q" * 60 + "/" + "r" * 70, b"ustar prefix")
    u.file("plain", b"ustar")
    u.close()


def layer_gnu(path):
    """GNU format: longname/longlink records, base-256 numbers."""
    t = Layer(path, tarfile.GNU_FORMAT)
    long_name = "gnu/" + "L" * 200 + "/file"
    t.file(long_name, b"gnu long name")
    t.symlink("gnu/long-link", "K" * 250)
    t.hardlink("gnu/hard-to-long", long_name)
    t.file("gnu/big-uid", b"u", uid=4000000000, gid=3000000000)
    t.dir("gnu/dir", 0o2775)
    t.close()


def layer_semantics(path):
    """tar semantics: later wins, dirs after children, replacements, no root entry."""
    t = Layer(path)
    t.file("a/b/c/file", b"missing parents")
    t.file("dup", b"v1")
    t.file("dup", b"v2 wins")
    t.dir("d")
    t.file("d/x", b"x")
    t.dir("d/y")
    t.file("d/y/z", b"z")
    t.dir("d", 0o700, uid=5, gid=6, mtime=T0 + 99, pax={"SCHILY.xattr.user.late": "meta"})
    t.file("f2d", b"file first")
    t.dir("f2d", 0o711)
    t.file("f2d/inner", b"inner")
    t.dir("d2f")
    t.file("d2f/sub/file", b"gone")
    t.file("d2f", b"file last")
    t.file("in-the-way", b"file")
    t.file("in-the-way/child", b"child")
    t.file("hl-target", b"old content")
    t.hardlink("hl", "hl-target")
    t.file("hl-target", b"new content")
    t.symlink("sym", "dup")
    t.dir("sym", 0o755)
    t.file("sym/now-a-dir", b"s")
    t.close()


def layer_whiteouts(path):
    """Whiteouts and opaque markers in one layer, without context."""
    t = Layer(path)
    t.whiteout("gone/.wh.file", mtime=T0 + 1)
    t.whiteout(".wh.toplevel")
    t.whiteout("opq/.wh..wh..opq")
    t.file("opq/kept", b"k")
    t.whiteout("opq/.wh.dropped")
    t.whiteout("opq/sub/.wh.dropped-deeper")
    t.whiteout("opq2/.wh.dropped-before")
    t.whiteout("opq2/.wh..wh..opq")
    t.whiteout("both/.wh.x")
    t.file("both/x", b"real after whiteout")
    t.file("both/y", b"real before whiteout")
    t.whiteout("both/.wh.y")
    t.whiteout(".wh.wdir")
    t.file("wdir/new", b"whiteout + dir = opaque")
    t.whiteout("deep/a/b/.wh.c")
    t.whiteout(".wh..wh.plnk")
    t.file(".wh..wh.plnk/123.456", b"aufs")
    t.close()


def layer_empty(path):
    with open(path, "wb") as f:
        f.write(bytes(10240))


def gnu_sparse(out_dir):
    """GNU tar's sparse formats: old GNU, pax 0.0, 0.1 and 1.0."""
    src = tempfile.mkdtemp()
    try:
        d = os.path.join(src, "sparse")
        os.mkdir(d)
        with open(os.path.join(d, "holes"), "wb") as f:
            f.truncate(10 << 20)
            for off in (1 << 20, 5000000, (10 << 20) - 3):
                f.seek(off)
                f.write(data(off, 3))
        with open(os.path.join(d, "trailing-hole"), "wb") as f:
            f.write(data(7, 5000))
            f.truncate(8 << 20)
        with open(os.path.join(d, "all-hole"), "wb") as f:
            f.truncate(4 << 20)
        with open(os.path.join(d, "dense"), "wb") as f:
            f.write(data(8, 10000))
        for name, opts in (("sparse-gnu", ["--format=gnu"]),
                           ("sparse-pax00", PAX + ["--sparse-version=0.0"]),
                           ("sparse-pax01", PAX + ["--sparse-version=0.1"]),
                           ("sparse-pax10", PAX + ["--sparse-version=1.0"])):
            gnu_tar(src, os.path.join(out_dir, name + ".tar"), ["sparse"], opts)
    finally:
        shutil.rmtree(src)


PAX = ["--format=pax", "--pax-option=delete=atime,delete=ctime"]


def gnu_tar(src, out, names, opts):
    subprocess.run(["tar", "--sparse", "--sort=name", "--numeric-owner", "--owner=0",
                    "--group=0", "--mtime=@%d" % T0, "-C", src, "-cf", out] + opts + names,
                   check=True)


# ---------------------------------------------------------------- stacks

def stack_main(d):
    """Four layers: deletions, opaque dirs, dir↔file, hardlinks, implicit parents."""
    t = Layer(os.path.join(d, "1.tar"))
    t.dir("./", 0o755, mtime=T0)
    t.dir("etc", 0o755, mtime=T0 + 1)
    for n in ("passwd", "group", "hosts"):
        t.file("etc/" + n, n.encode())
    t.file("usr/bin/tool", data(11, 5000), 0o755)
    t.hardlink("usr/bin/tool-alias", "usr/bin/tool")
    t.hardlink("usr/sbin/tool-link", "usr/bin/tool")
    for n in "abc":
        t.file("var/lib/data/" + n, n.encode())
    t.file("var/cache/big", data(12, 1 << 20))
    t.file("opt/app/x/one", b"1")
    t.file("opt/app/y/two", b"2")
    t.dir("home/user", 0o750, uid=1000, gid=1000, mtime=T0 + 2,
          pax={"SCHILY.xattr.user.home": "lower"})
    t.file("home/user/.profile", b"p", uid=1000, gid=1000)
    t.file("d2f/sub/file", b"dir becomes file")
    t.file("f2d", b"file becomes dir")
    t.symlink("sym", "etc/passwd")
    t.file("keep-dir/with/children", b"c")
    t.file("x-lower/file", b"x")
    t.dir("wd", 0o700, uid=7, mtime=T0 + 3)
    t.dir("wd/sub", 0o750, uid=8, mtime=T0 + 4)
    t.file("wd/old", b"old")
    t.file("wd/sub/old2", b"old2")
    t.close()

    t = Layer(os.path.join(d, "2.tar"))
    t.whiteout("etc/.wh.hosts")
    t.whiteout("var/lib/.wh.data")
    t.whiteout("opt/app/.wh..wh..opq")
    t.file("opt/app/new", b"re-added under opaque")
    t.file("d2f", b"now a file")
    t.dir("f2d", 0o700)
    t.file("f2d/inner", b"inner")
    t.whiteout("usr/bin/.wh.tool-alias")
    t.whiteout(".wh.never-existed")
    t.whiteout("newdir/.wh.ghost")
    t.file("home/user/newfile", b"implicit parent keeps lower metadata", uid=1000)
    t.file("etc/passwd", b"changed")
    t.whiteout("var/cache/.wh.big")
    t.file("var/cache/big", b"real entry beats the whiteout")
    t.whiteout("x-lower/.wh.file")
    t.file("x-lower/file", b"also beats it, other order")
    t.file("wd/new", b"whiteout of wd plus a wd of this layer")
    t.whiteout(".wh.wd")
    t.file("wd/sub/fresh", b"wd/sub is new too: fresh metadata")
    t.close()

    t = Layer(os.path.join(d, "3.tar"))
    t.file("var/lib/data/fresh", b"re-created after deletion")
    t.dir("d2f", 0o755)
    t.file("d2f/again", b"dir again")
    t.whiteout(".wh.f2d")
    t.file("usr/bin/tool", b"replaced one hardlink name", mode=0o755)
    t.file("x/one", b"new group")
    t.hardlink("y/two", "x/one")
    t.hardlink("x/three", "x/one")
    t.whiteout("opt/.wh..wh..opq")
    t.file("opt/fresh", b"opt is opaque")
    t.file("keep-dir", b"a file first")
    t.dir("keep-dir", 0o755)
    t.file("keep-dir/only", b"lower children are gone")
    t.close()

    t = Layer(os.path.join(d, "4.tar"))
    t.whiteout("x/.wh.one")
    t.whiteout(".wh.home")
    t.dir("./", 0o751, mtime=T0 + 40)
    t.whiteout("etc/.wh.group")
    t.close()


def stack_root_opaque(d):
    t = Layer(os.path.join(d, "1.tar"))
    t.file("a/file", b"a")
    t.file("b", b"b")
    t.file("c/deep/x", b"x")
    t.close()
    t = Layer(os.path.join(d, "2.tar"))
    t.whiteout(".wh..wh..opq")
    t.file("a/new", b"new")
    t.file("top", b"top")
    t.close()
    t = Layer(os.path.join(d, "3.tar"))
    t.file("c/back", b"c is new")
    t.close()


# ---------------------------------------------------------------- bad inputs

def bad_inputs(d):
    good = os.path.join(d, "good.tmp")
    t = Layer(good)
    t.file("first", b"ok")
    t.file("victim", data(3, 200000))
    t.close()
    with open(good, "rb") as f:
        tar = f.read()
    os.remove(good)
    write(d, "truncated.tar", tar[:len(tar) // 2])
    gz = subprocess.run(["gzip", "-n", "-c"], input=tar, stdout=subprocess.PIPE, check=True).stdout
    write(d, "truncated.tar.gz", gz[:len(gz) - 100])
    write(d, "garbage.bin", data(4, 8192))
    write(d, "empty.bin", b"")
    write(d, "escape.tar", ustar("ok", b"fine") + ustar("a/../../escape", b"evil") + bytes(1024))
    write(d, "escape-link.tar",
          ustar("ok", b"fine") + ustar("link", b"", typeflag=b"1", linkname="../../etc/passwd")
          + bytes(1024))
    write(d, "hardlink-missing.tar",
          ustar("ok", b"fine") + ustar("link", b"", typeflag=b"1", linkname="never/there")
          + bytes(1024))
    write(d, "liar.tar", ustar("ok", b"fine") + ustar("liar", b"x" * 100, size=5 << 30))
    bad = bytearray(ustar("second", b"2"))
    bad[0] ^= 0x20
    write(d, "bad-checksum.tar", ustar("first", b"1") + bytes(bad) + bytes(1024))


def ustar(name, body, typeflag=b"0", linkname="", size=None):
    h = bytearray(512)
    h[0:len(name)] = name.encode()
    h[100:108] = b"%07o\0" % 0o644
    h[108:116] = b"%07o\0" % 0
    h[116:124] = b"%07o\0" % 0
    h[124:136] = b"%011o\0" % (len(body) if size is None else size)
    h[136:148] = b"%011o\0" % T0
    h[156:157] = typeflag
    h[157:157 + len(linkname)] = linkname.encode()
    h[257:265] = b"ustar\x0000"
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    pad = (-len(body)) % 512
    return bytes(h) + body + bytes(pad)


def write(d, name, content):
    with open(os.path.join(d, name), "wb") as f:
        f.write(content)


# ---------------------------------------------------------------- big files

BIG_BLOCK = 1 << 20


def big_block(base, n, size):
    return (struct.pack("<Q", n) + base[8:])[: size - n * BIG_BLOCK]


def stream_big(size, sha_out):
    """A tar with one dense file, written block by block to stdout."""
    out = sys.stdout.buffer
    ti = tarfile.TarInfo("big/dense")
    ti.size, ti.mode, ti.mtime = size, 0o644, T0
    out.write(ti.tobuf(tarfile.PAX_FORMAT))
    base = data(99, BIG_BLOCK)
    h = hashlib.sha256() if sha_out else None
    n = 0
    while n * BIG_BLOCK < size:
        block = big_block(base, n, size)
        out.write(block)
        if h:
            h.update(block)
        n += 1
    out.write(bytes((-size) % 512) + bytes(1024))
    out.flush()
    if sha_out:
        with open(sha_out, "w") as f:
            f.write(h.hexdigest() + "\n")


def check_big(path, size):
    if os.path.getsize(path) != size:
        print("%s: size %d, expected %d" % (path, os.path.getsize(path), size))
        return 1
    base = data(99, BIG_BLOCK)
    blocks = (size + BIG_BLOCK - 1) // BIG_BLOCK
    with open(path, "rb") as f:
        for n in sorted({0, 1, blocks // 3, blocks // 2, 2048 % blocks, blocks - 2, blocks - 1}):
            f.seek(n * BIG_BLOCK)
            if f.read(BIG_BLOCK) != big_block(base, n, size):
                print("%s: block %d differs" % (path, n))
                return 1
    return 0


def many(files, mbytes):
    """A layer shaped like a distribution image: mostly small files."""
    rng = random.Random(2024)
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
             for _ in range(500)]
    text = b" ".join(rng.choice(words) for _ in range(400000))  # ~2.4 MB of "text"
    binary = rng.randbytes(4 << 20)
    weights = [rng.choice((1, 1, 1, 1, 1, 1, 1, 8, 8, 8, 64, 400)) for _ in range(files)]
    unit = mbytes * 1_000_000 / sum(weights)
    tf = tarfile.open(fileobj=sys.stdout.buffer, mode="w|", format=tarfile.PAX_FORMAT)
    made = set()
    for i in range(files):
        d = "usr/lib/pkg%03d/sub%02d" % (i // 1000, (i // 100) % 10)
        if d not in made:
            made.add(d)
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, T0
            tf.addfile(ti)
        size = int(weights[i] * unit * rng.uniform(0.5, 1.5))
        pool = binary if i % 10 == 0 else text
        if size < len(pool):
            start = rng.randrange(0, len(pool) - size)
            body = pool[start:start + size]
        else:
            body = (pool * (size // len(pool) + 1))[:size]
        ti = tarfile.TarInfo("%s/file%06d%s" % (d, i, ".so" if i % 10 == 0 else ".txt"))
        ti.size, ti.mode, ti.mtime = len(body), 0o644, T0
        tf.addfile(ti, io.BytesIO(body))
    tf.close()


def make_all(out):
    single = os.path.join(out, "single")
    os.makedirs(single, exist_ok=True)
    layer_types(os.path.join(single, "types.tar"))
    layer_names(os.path.join(single, "names.tar"))
    layer_gnu(os.path.join(single, "gnu.tar"))
    layer_semantics(os.path.join(single, "semantics.tar"))
    layer_whiteouts(os.path.join(single, "whiteouts.tar"))
    layer_empty(os.path.join(single, "empty.tar"))
    gnu_sparse(single)
    for name, fn in (("main", stack_main), ("root-opaque", stack_root_opaque)):
        d = os.path.join(out, "stacks", name)
        os.makedirs(d, exist_ok=True)
        fn(d)
    bad = os.path.join(out, "bad")
    os.makedirs(bad, exist_ok=True)
    bad_inputs(bad)


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text[-1].upper() in units:
        return int(text[:-1]) * units[text[-1].upper()]
    return int(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("all")
    a.add_argument("out")
    b = sub.add_parser("stream-big")
    b.add_argument("size")
    b.add_argument("--sha256-out")
    m = sub.add_parser("many")
    m.add_argument("files", type=int)
    m.add_argument("mbytes", type=int)
    c = sub.add_parser("check-big")
    c.add_argument("file")
    c.add_argument("size")
    args = ap.parse_args()
    if args.cmd == "all":
        make_all(args.out)
    elif args.cmd == "many":
        many(args.files, args.mbytes)
    elif args.cmd == "stream-big":
        stream_big(parse_size(args.size), args.sha256_out)
    else:
        return check_big(args.file, parse_size(args.size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
