#!/usr/bin/env python3
"""Writes hostile layer tars for the tests of docs/security.md (stdlib only).

  make_hostile.py deep OUT DEPTH [--gzip]       one file DEPTH directories deep (pax path)
  make_hostile.py longname OUT COMPONENTS       one file whose GNU longname has COMPONENTS
                                                levels ("a/a/.../f")
  make_hostile.py zeros OUT SIZE [--gzip]       one file of SIZE zero bytes (K/M/G suffixes)
  make_hostile.py files OUT COUNT [--symlinks]  COUNT empty files (or symlinks) in one directory
  make_hostile.py symlink OUT TARGET_BYTES      one symlink whose target is TARGET_BYTES long
  make_hostile.py whiteout OUT NAME_BYTES       a file dir/NAME and its whiteout in a second
                                                tar OUT.top (dir/.wh.NAME), NAME of NAME_BYTES
  make_hostile.py pax-hardlink OUT              a hardlink whose target is only in a pax
                                                linkpath record (the ustar field is empty)
  make_hostile.py device OUT MAJOR MINOR        a character device with these numbers
  make_hostile.py xattr OUT NAME                a file with the pax xattr NAME=value

Deterministic: the same arguments give the same bytes.
"""
import gzip
import io
import sys
import tarfile


def size_arg(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text[-1].upper() in units:
        return int(text[:-1]) * units[text[-1].upper()]
    return int(text)


def info(name, kind=tarfile.REGTYPE, size=0, mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.size = size
    ti.mode = mode
    ti.mtime = 1700000000
    ti.uname = ti.gname = ""
    return ti


class ZeroReader(io.RawIOBase):
    def __init__(self, size):
        self.left = size

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


def open_out(path, compress):
    raw = open(path, "wb")
    if compress:
        return raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6)
    return raw, raw


def write_tar(path, members, fmt=tarfile.PAX_FORMAT, compress=False):
    raw, out = open_out(path, compress)
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for ti, data in members:
            tar.addfile(ti, data)
    if out is not raw:
        out.close()
    raw.close()


def main(argv):
    kind, out = argv[0], argv[1]
    args = argv[2:]
    compress = "--gzip" in args
    args = [a for a in args if not a.startswith("--")]
    if kind == "deep":
        depth = int(args[0])
        write_tar(out, [(info("d/" * depth + "f", size=2), io.BytesIO(b"ok"))], compress=compress)
    elif kind == "longname":
        levels = int(args[0])
        write_tar(out, [(info("a/" * levels + "f", size=2), io.BytesIO(b"ok"))],
                  fmt=tarfile.GNU_FORMAT)
    elif kind == "zeros":
        size = size_arg(args[0])
        write_tar(out, [(info("zeros", size=size), ZeroReader(size))], compress=compress)
    elif kind == "files":
        count = int(args[0])
        members = [(info("d", tarfile.DIRTYPE, mode=0o755), None)]
        for i in range(count):
            if "--symlinks" in argv:
                ti = info("d/l%06d" % i, tarfile.SYMTYPE, mode=0o777)
                ti.linkname = "t%06d" % i
            else:
                ti = info("d/f%06d" % i)
            members.append((ti, None))
        write_tar(out, members)
    elif kind == "symlink":
        ti = info("link", tarfile.SYMTYPE, mode=0o777)
        ti.linkname = ("t/" * (int(args[0]) // 2 + 1))[: int(args[0])]
        write_tar(out, [(ti, None)])
    elif kind == "whiteout":
        name = ("n" * int(args[0]))
        write_tar(out, [(info("dir", tarfile.DIRTYPE, mode=0o755), None),
                        (info("dir/" + name, size=1), io.BytesIO(b"x")),
                        (info("dir/keep", size=1), io.BytesIO(b"k"))])
        write_tar(out + ".top", [(info("dir/.wh." + name), io.BytesIO(b""))])
    elif kind == "pax-hardlink":
        target = info("target", size=2)
        link = info("link", tarfile.LNKTYPE)
        link.pax_headers = {"linkpath": "target"}
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
            tar.addfile(target, io.BytesIO(b"ok"))
            tar.addfile(link)
        data = bytearray(buf.getvalue())
        # Empty the ustar linkname field of the link's own header so that only
        # the pax record names the target, and fix that header's checksum.
        pos = 0
        while pos < len(data):
            block = data[pos:pos + 512]
            if block[156:157] == b"1":
                block[157:257] = bytes(100)
                block[148:156] = b" " * 8
                block[148:156] = b"%06o\0 " % sum(block)
                data[pos:pos + 512] = block
                break
            pos += 512
        with open(out, "wb") as f:
            f.write(data)
    elif kind == "device":
        ti = info("dev", tarfile.CHRTYPE)
        ti.devmajor, ti.devminor = int(args[0]), int(args[1])
        write_tar(out, [(ti, None)])
    elif kind == "xattr":
        ti = info("file", size=1)
        ti.pax_headers = {"SCHILY.xattr." + args[0]: "value"}
        write_tar(out, [(ti, io.BytesIO(b"x"))])
    else:
        sys.exit("unknown kind " + kind)


if __name__ == "__main__":
    main(sys.argv[1:])
