#!/usr/bin/env python3
"""Writes a guest plan (tests/vm/init, tests/vm/guest_exec.c) from an image's
`vmimage inspect --json`: what to mount and how to run the image's program,
the way a VM launcher would read it.

  plan.py INSPECT.json --layout layered|squashed|rootdisk [--upper] [--cmd ARG]...

Disks are numbered in the order the launcher attaches them, /dev/vda first:
  layered   one EROFS lower per entry of lower_paths (base first), then the upper
  squashed  the squashed lower (rootfs_path), then the upper
  rootdisk  one ext4 root disk (export --type ext4), mounted read-write
--cmd replaces the config's Cmd (the entrypoint stays), as `docker run IMAGE ARG...`.
Prints the plan, base64-encoded, for the kernel parameter vmimage.plan=.
"""
import argparse
import base64
import json
import sys


def escape(value):
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("inspect")
    p.add_argument("--layout", required=True, choices=["layered", "squashed", "rootdisk"])
    p.add_argument("--upper", action="store_true")
    p.add_argument("--cmd", action="append")
    a = p.parse_args()
    with open(a.inspect) as f:
        image = json.load(f)
    oci = image["oci"]

    disks = []
    if a.layout == "layered":
        disks += [("lower", fs) for fs in image["lower_fs_types"]]
    elif a.layout == "squashed":
        disks.append(("lower", "erofs"))
    else:
        disks.append(("root", "ext4"))
    if a.upper:
        disks.append(("upper", "ext4"))

    lines = []
    for i, (role, fs) in enumerate(disks):
        lines.append(f"{role}\t/dev/vd{chr(ord('a') + i)}\t{fs}")
    lines.append("user\t" + escape(oci.get("user") or ""))
    lines.append("workdir\t" + escape(oci.get("working_dir") or ""))
    for name, value in (oci.get("env") or {}).items():
        lines.append("env\t" + escape(f"{name}={value}"))
    cmd = a.cmd if a.cmd is not None else (oci.get("cmd") or [])
    for word in (oci.get("entrypoint") or []) + cmd:
        lines.append("arg\t" + escape(word))
    plan = ("\n".join(lines) + "\n").encode()
    sys.stdout.write(base64.b64encode(plan).decode() + "\n")


if __name__ == "__main__":
    main()
