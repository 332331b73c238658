#!/usr/bin/env python3
"""Writes a guest plan (tests/vm/init, tests/vm/guest_exec.c) from an image's
`vmimage inspect --json`: what to mount and how to run the image's program,
the way a VM launcher would read it.

  plan.py INSPECT.json --layout layered|squashed|rootdisk [--upper] [--cmd ARG]...
      [--verity [--root-verity VERITY.json]]

Disks are numbered in the order the launcher attaches them, /dev/vda first:
  layered   one EROFS lower per entry of lower_paths (base first), then the upper
  squashed  the squashed lower (rootfs_path), then the upper
  rootdisk  one ext4 root disk (export --type ext4), mounted read-write
--cmd replaces the config's Cmd (the entrypoint stays), as `docker run IMAGE ARG...`.
--verity opens every lower through dm-verity, read-only, with the "verity"
object inspect shows for it (layered: layers[i]; squashed: the layer whose path
is rootfs_path); its dm_table, "{device}" replaced by the disk, is the lower
line's 5th field (4th: "verity"), and carries the root hash to the guest as a
launcher's command line would. With rootdisk, the verity object comes from
--root-verity (the object, or what `--json export --verity` printed), and the root disk
becomes a read-only ext4 lower under a tmpfs upper: dm-verity cannot be written.
Prints the plan, base64-encoded, for the kernel parameter vmimage.plan=.
"""
import argparse
import base64
import json
import re
import sys

# A verity target (Documentation/admin-guide/device-mapper/verity.rst) with
# optional arguments: all a dm table line on the command line may be.
TABLE = re.compile(r"0 [0-9]+ verity 1 \{device\} \{device\} 4096 4096 [0-9]+ [0-9]+ sha256 "
                   r"[0-9a-f]{64} [0-9a-f]{64}( [0-9]+( [a-z_]+)+)?")
# The kernel keeps 2048 bytes of command line (x86 COMMAND_LINE_SIZE); lib.sh
# adds up to ~100 before the plan.
MAX_PLAN = 1900


def escape(value):
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def verity_table(verity, what, dev):
    """The dm table of a "verity" object for the disk dev; exits on a bad one."""
    if not isinstance(verity, dict) or "dm_table" not in verity:
        sys.exit(f"plan.py: --verity, but {what} has no verity object (pulled without --verity?)")
    table = verity["dm_table"]
    if not TABLE.fullmatch(table):
        sys.exit(f"plan.py: {what}: unexpected dm_table {table!r}")
    return table.replace("{device}", dev)


def lower_verity(image, layout):
    """The verity objects of the lowers, in disk order."""
    layers = image.get("layers") or []
    if layout == "layered":
        if len(layers) != len(image["lower_fs_types"]):
            sys.exit(f"plan.py: {len(layers)} layers for {len(image['lower_fs_types'])} lowers")
        return [(layer.get("verity"), f"layer {i} ({layer.get('digest')})") for i, layer in enumerate(layers)]
    squashed = [layer for layer in layers if layer.get("path") == image["rootfs_path"]]
    if not squashed:
        sys.exit("plan.py: --verity: no entry of layers is the squashed lower (rootfs_path)")
    return [(squashed[0].get("verity"), f"the squashed lower ({squashed[0].get('digest')})")]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("inspect")
    p.add_argument("--layout", required=True, choices=["layered", "squashed", "rootdisk"])
    p.add_argument("--upper", action="store_true")
    p.add_argument("--cmd", action="append")
    p.add_argument("--verity", action="store_true")
    p.add_argument("--root-verity")
    a = p.parse_args()
    if a.root_verity and not (a.verity and a.layout == "rootdisk"):
        p.error("--root-verity goes with --verity --layout rootdisk")
    with open(a.inspect) as f:
        image = json.load(f)
    oci = image["oci"]

    disks = []  # (role, fs, (verity object, what it belongs to) or None)
    if a.layout == "layered":
        disks += [("lower", fs, None) for fs in image["lower_fs_types"]]
    elif a.layout == "squashed":
        disks.append(("lower", "erofs", None))
    elif a.verity:
        if not a.root_verity:
            p.error("--verity --layout rootdisk needs --root-verity")
        with open(a.root_verity) as f:
            verity = json.load(f)
        if isinstance(verity, dict) and "verity" in verity:  # export's whole document
            verity = verity["verity"]
        disks.append(("lower", "ext4", (verity, a.root_verity)))
    else:
        disks.append(("root", "ext4", None))
    if a.verity and a.layout != "rootdisk":
        disks = [(role, fs, v) for (role, fs, _), v in zip(disks, lower_verity(image, a.layout))]
    if a.upper:
        disks.append(("upper", "ext4", None))

    lines = []
    for i, (role, fs, verity) in enumerate(disks):
        dev = f"/dev/vd{chr(ord('a') + i)}"
        line = f"{role}\t{dev}\t{fs}"
        if verity is not None:
            line += "\tverity\t" + verity_table(verity[0], verity[1], dev)
        lines.append(line)
    lines.append("user\t" + escape(oci.get("user") or ""))
    lines.append("workdir\t" + escape(oci.get("working_dir") or ""))
    for name, value in (oci.get("env") or {}).items():
        lines.append("env\t" + escape(f"{name}={value}"))
    cmd = a.cmd if a.cmd is not None else (oci.get("cmd") or [])
    for word in (oci.get("entrypoint") or []) + cmd:
        lines.append("arg\t" + escape(word))
    plan = base64.b64encode(("\n".join(lines) + "\n").encode()).decode()
    if len(plan) > MAX_PLAN:
        sys.exit(f"plan.py: the plan is {len(plan)} bytes of base64, more than the command line holds ({MAX_PLAN})")
    sys.stdout.write(plan + "\n")


if __name__ == "__main__":
    main()
